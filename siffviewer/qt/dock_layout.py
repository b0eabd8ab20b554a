"""The main window's dock layout: a default in which the image view gets most of the window,
the user's own layout remembered across runs, and View ▸ Reset layout.

Default: the side docks share one tabbed column on the right, as narrow as their panels
allow (at most ``SIDE_MAX`` px) and as tall as the window; the bottom dock (traces and
lifetime) sits under the image only, and opens by default only where the image view still
keeps ``IMAGE_SHARE`` of the window. Elsewhere it starts closed, one click away (View menu,
or any "show traces" request), at the height it would have had.

The user's layout is saved under a key that carries ``LAYOUT_VERSION``: a layout saved by
an older default (the one that gave the image a fifth of the window) is never restored.
"""

from __future__ import annotations

import math

from PyQt6 import QtCore, QtWidgets

LAYOUT_VERSION = 2  # bump when the default changes: layouts saved by older ones are ignored
GROUP = "layout"
STATE_KEY = f"{GROUP}/v{LAYOUT_VERSION}/state"
GEOMETRY_KEY = f"{GROUP}/v{LAYOUT_VERSION}/geometry"
IMAGE_SHARE = 0.51  # the default leaves the image view more than half of the window
SIDE_SHARE, SIDE_MAX = 0.2, 320  # side column: a fifth of the width, at most this
BOTTOM_SHARE, BOTTOM_MAX = 0.26, 300  # bottom dock: about a quarter of the height, at most this

_H = QtCore.Qt.Orientation.Horizontal
_V = QtCore.Qt.Orientation.Vertical


class DockLayout:
    """Default sizes, remembering and resetting the docks of ``window``.

    ``side``: the tabbed docks of the right column (the first is raised by default);
    ``bottom``: the dock under the image; ``image``: the widget that must keep the room."""

    def __init__(self, window: QtWidgets.QMainWindow, side: list[QtWidgets.QDockWidget],
                 bottom: QtWidgets.QDockWidget, image: QtWidgets.QWidget) -> None:
        self.window, self.side, self.bottom, self.image = window, side, bottom, image
        # the right column runs the full height; the bottom dock only spans the image
        window.setCorner(QtCore.Qt.Corner.BottomRightCorner,
                         QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.default_state = window.saveState(LAYOUT_VERSION)
        self._pending = True  # the bottom dock's default is decided once the image is laid out
        self._bottom_sized = False  # the bottom dock got its default height once
        bottom.visibilityChanged.connect(self._on_bottom_visibility)

    # ---------------------------------------------------------------- default
    def side_width(self) -> int:
        """The right column's default width: a fifth of the window, within what its panels
        need and ``SIDE_MAX``."""
        need = max(d.minimumSizeHint().width() for d in self.side)
        return max(need, min(int(SIDE_SHARE * self.window.width()), SIDE_MAX))

    def bottom_height(self) -> int:
        """The bottom dock's default height (at least what its panels need)."""
        h = self.window.height()
        return max(self.bottom.minimumSizeHint().height(), min(int(BOTTOM_SHARE * h), BOTTOM_MAX))

    def apply_default(self) -> None:
        """Give the side column its default width; the bottom dock follows in :meth:`settle`
        (now if the image view is already laid out)."""
        self.window.resizeDocks([self.side[0]], [self.side_width()], _H)
        self._pending = True
        self.settle()

    def settle(self) -> None:
        """Decide the bottom dock of the default layout, once the window is shown with the
        image view in it: open, at most at its default height, if it fits while the image
        keeps ``IMAGE_SHARE`` of the window; else closed."""
        w = self.window
        if not self._pending or not w.isVisible() or not self.image.isVisible():
            return
        self._pending = False
        self._bottom_sized = True  # Qt reports visibility changes of the layout pass below
        self.bottom.setFloating(False)
        self.bottom.hide()
        self._activate_layouts()
        height = min(self.bottom_height(), self._room_below_image())
        if height >= self.bottom.minimumSizeHint().height():
            self.bottom.show()
            w.resizeDocks([self.bottom], [height], _V)
        else:
            self._bottom_sized = False  # sized when the user opens it

    def _activate_layouts(self) -> None:
        """Lay out the window and the image's parents now (not at the next event loop
        pass), so that the image view's size can be read."""
        self.window.layout().activate()
        widget = self.image.parentWidget()
        chain = []
        while widget is not None and widget is not self.window:
            chain.append(widget)
            widget = widget.parentWidget()
        for widget in reversed(chain):
            if widget.layout() is not None:
                widget.layout().activate()

    def _room_below_image(self) -> int:
        """Height (px) the bottom dock may take while the image view keeps ``IMAGE_SHARE``
        of the window (the image view's height shrinks by the dock and its separator)."""
        w = self.window
        width, height = self.image.width(), self.image.height()
        if width <= 0:
            return 0
        needed = math.ceil(IMAGE_SHARE * w.width() * w.height() / width)
        separator = w.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_DockWidgetSeparatorExtent)
        return height - needed - separator

    def _on_bottom_visibility(self, visible: bool) -> None:
        if visible and not self._bottom_sized and not self._pending:
            self._bottom_sized = True
            # once it is in the layout: a dock opened later would otherwise take its panels'
            # preferred height (more than half the window)
            QtCore.QTimer.singleShot(0, lambda: self.window.resizeDocks(
                [self.bottom], [self.bottom_height()], _V))

    def reset(self) -> None:
        """The default layout again: side docks back in their column, the first in front."""
        w = self.window
        w.restoreState(self.default_state, LAYOUT_VERSION)
        for dock in self.side:
            dock.setFloating(False)
            dock.show()
        self.side[0].raise_()
        self.apply_default()

    # ---------------------------------------------------------------- remembered
    def save(self, settings: QtCore.QSettings) -> None:
        """Keep the window geometry and dock layout in ``settings``."""
        settings.setValue(GEOMETRY_KEY, self.window.saveGeometry())
        settings.setValue(STATE_KEY, self.window.saveState(LAYOUT_VERSION))

    def restore(self, settings: QtCore.QSettings) -> bool:
        """Apply the layout saved by this version; False when there is none (layouts of
        older versions are ignored: the default stays)."""
        state = settings.value(STATE_KEY)
        if not isinstance(state, QtCore.QByteArray) or state.isEmpty():
            return False
        geometry = settings.value(GEOMETRY_KEY)
        # the offscreen platform (tests, screenshots) saves a bogus normal geometry
        if isinstance(geometry, QtCore.QByteArray) and \
                QtWidgets.QApplication.platformName() != "offscreen":
            self.window.restoreGeometry(geometry)
        if not self.window.restoreState(state, LAYOUT_VERSION):
            return False
        self._pending = False  # the user's layout wins over the default
        self._bottom_sized = True
        return True

    @staticmethod
    def forget(settings: QtCore.QSettings) -> None:
        """Remove every saved layout (of any version) from ``settings``."""
        settings.remove(GROUP)
