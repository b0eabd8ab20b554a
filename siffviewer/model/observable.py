"""A minimal observer: models call their subscribers after a change (no Qt needed)."""

from __future__ import annotations

from collections.abc import Callable


class Observable:
    """Keeps subscribers and notifies them with the names of the fields that changed."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[set[str]], None]] = []

    def subscribe(self, callback: Callable[[set[str]], None]) -> Callable[[], None]:
        """Call ``callback(changed_names)`` after each change; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _notify(self, changed: set[str]) -> None:
        if changed:
            for callback in list(self._subscribers):
                callback(changed)
