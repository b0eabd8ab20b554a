"""Qt views of the viewer's model. Views subscribe to the model and never change each other."""


def on_screen(widget) -> bool:
    """True when ``widget`` can be seen (a panel in a background dock tab cannot)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


class FlimRefreshWhenShown:
    """Mixin (before the Qt class) for a FLIM panel that computes only while it is seen.

    :meth:`_active` says whether to work now: the file has photon times and the panel is on
    screen (or ``self.sync``); otherwise the panel is marked stale and its ``refresh()``
    runs when it is shown next."""

    _stale = False

    def _active(self) -> bool:
        if not self.session.has_flim:
            return False
        if self.sync or on_screen(self):
            return True
        self._stale = True
        return False

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Run the refresh put off while the panel was hidden."""
        super().showEvent(event)
        if self._stale:
            self.refresh()
