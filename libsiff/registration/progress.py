"""Progress and cancellation bookkeeping shared by the registration estimators."""

from __future__ import annotations

from typing import Callable

from ..errors import SiffCancelled

__all__ = ["ProgressCallback", "CancelCallback", "Ticker"]

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


class Ticker:
    """Progress and cancellation bookkeeping (units: decoded frames)."""

    def __init__(self, progress, cancel):
        self.progress, self.cancel = progress, cancel
        self.done, self.total = 0, 0

    def check(self) -> None:
        """Raise ``SiffCancelled`` if the caller asked to cancel."""
        if self.cancel is not None and self.cancel():
            raise SiffCancelled("registration cancelled")

    def add(self, n: int) -> None:
        """Count ``n`` more decoded frames done and report progress."""
        self.done = min(self.done + int(n), self.total)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        """Report the work complete (done = total)."""
        self.done = self.total
        if self.progress is not None:
            self.progress(self.total, self.total)

