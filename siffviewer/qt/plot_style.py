"""Shared plot styling: axis labels with units that never run into the next plot, legends
off the data, log axes labelled at powers of ten, and a labelled empty state.

Apply these to pyqtgraph ``PlotItem``s (``PlotWidget.getPlotItem()``) when building a panel.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

EMPTY_COLOR = "#bbbbbb"
LABEL_PAD_PX = 2
LABEL_SIZE = "8pt"


def axis_label(plot: pg.PlotItem, side: str, text: str, units: str | None = None) -> pg.AxisItem:
    """Label an axis as "text (units)", without pyqtgraph's automatic SI prefix (data are
    already in ``units``), and keep a vertical axis at least as tall as its label so that
    the label never runs into the plot above or below."""
    axis = plot.getAxis(side)
    axis.enableAutoSIPrefix(False)
    color = axis.textPen().color().name()  # a style without a colour would draw black
    plot.setLabel(side, text, units=units, **{"font-size": LABEL_SIZE, "color": color})
    if side in ("left", "right"):
        axis.setMinimumHeight(label_length(axis) + LABEL_PAD_PX)
    return axis


def label_length(axis: pg.AxisItem) -> int:
    """Length in pixels of an axis label along its axis (0 without a label)."""
    if not axis.label.isVisible() or not axis.labelText:
        return 0
    return int(math.ceil(axis.label.boundingRect().width()))


def legend_above(plot: pg.PlotItem, columns: int = 6) -> pg.LegendItem:
    """A legend in a row above the plot (never over the data); items given a ``name``
    join it, ``plot.legend.clear()`` empties it. Uses the plot's title row."""
    legend = pg.LegendItem(colCount=columns, labelTextSize="8pt", verSpacing=-6)
    legend.layout.setContentsMargins(0, 0, 0, 0)
    plot.setTitle(None)
    plot.layout.removeItem(plot.titleLabel)
    plot.layout.addItem(legend, 0, 1)
    plot.layout.setRowMaximumHeight(0, 10_000)  # setTitle(None) fixed the title row at 0
    plot.legend = legend
    return legend


def colour_key(entries) -> str:
    """Rich text naming coloured lines: a square in each ``(name, (r, g, b))``'s colour
    before its name (a legend for a QLabel, where the plot has no room for one)."""
    import html

    return " ".join(f"<span style='color:rgb({c[0]},{c[1]},{c[2]})'>■</span>&nbsp;"
                    f"{html.escape(name)}" for name, c in entries)


class DecadeLogAxis(pg.AxisItem):
    """A log-scale axis labelled at powers of ten only (1, 10, 100 ...), with unlabelled
    minor ticks at 2-9 times each power; 2 and 5 times are labelled when the range spans
    less than two decades. Labels are plain numbers, so they never crowd each other."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override
        """Tick positions (log10 units): labelled powers of ten, then unlabelled minor ticks."""
        if not self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)):
            return super().tickValues(minVal, maxVal, size)
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        first, last = math.floor(lo), math.ceil(hi)
        decades = [float(v) for v in range(first, last + 1) if lo <= v <= hi]
        inner = [v + math.log10(k) for v in range(first, last) for k in range(2, 10)]
        inner = [v for v in inner if lo <= v <= hi]
        if len(decades) >= 2:
            return [(1.0, decades), (None, inner)]
        labelled = decades + [v for v in inner if round(10 ** (v % 1)) in (2, 5)]
        return [(1.0, sorted(labelled)), (None, [v for v in inner if v not in labelled])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        """Plain numbers for labelled ticks; none for the minor level (``spacing`` None)."""
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        if spacing is None:
            return [""] * len(values)
        return [f"{10 ** v:g}" for v in values]


def log_axis(plot: pg.PlotItem, side: str = "left") -> DecadeLogAxis:
    """Replace ``side``'s axis of ``plot`` with a :class:`DecadeLogAxis` (call before
    labelling it and before ``setLogMode``)."""
    axis = DecadeLogAxis(side)
    plot.setAxisItems({side: axis})
    return axis


def show_empty(plot: pg.PlotItem, message: str, x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None) -> None:
    """Show ``message`` in the middle of an empty plot. Axes keep their labels and units;
    an axis without a meaningful range (``None``) shows no numbers instead of pyqtgraph's
    placeholder 0-1."""
    label = getattr(plot, "_empty_label", None)
    if label is None:
        label = pg.LabelItem("", size="9pt", color=EMPTY_COLOR)
        label.setParentItem(plot.vb)
        label.anchor(itemPos=(0.5, 0.5), parentPos=(0.5, 0.5))
        plot._empty_label = label
    label.setText(message, size="9pt", color=EMPTY_COLOR)
    label.setVisible(bool(message))
    clear_numbers = getattr(plot, "_empty_hidden", set())
    for side, value_range, set_range in (("bottom", x_range, plot.setXRange),
                                         ("left", y_range, plot.setYRange)):
        axis = plot.getAxis(side)
        if value_range is not None:
            set_range(*value_range, padding=0.02)
        elif axis.style["showValues"]:
            axis.setStyle(showValues=False)
            clear_numbers.add(side)
    plot._empty_hidden = clear_numbers


def clear_empty(plot: pg.PlotItem) -> None:
    """Leave the empty state: hide the message and show the numbers it hid again."""
    label = getattr(plot, "_empty_label", None)
    if label is not None:
        label.setVisible(False)
    for side in getattr(plot, "_empty_hidden", ()):
        plot.getAxis(side).setStyle(showValues=True)
    plot._empty_hidden = set()


def minimum_height(widget: pg.GraphicsLayoutWidget | pg.PlotWidget) -> int:
    """The height a GraphicsLayoutWidget or PlotWidget needs for its plots' minimum sizes
    (their axis labels included): set it as the widget's minimum so the plots are never
    squeezed over each other or cut."""
    from PyQt6 import QtCore

    item = widget.ci if isinstance(widget, pg.GraphicsLayoutWidget) else widget.getPlotItem()
    hint = item.effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize)
    return int(math.ceil(hint.height())) + 10  # + the view's frame and margins


def is_empty(plot: pg.PlotItem) -> bool:
    """True while ``plot`` shows an empty-state message."""
    label = getattr(plot, "_empty_label", None)
    return label is not None and label.isVisible()
