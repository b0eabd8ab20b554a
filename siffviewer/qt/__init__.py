"""Qt views of the viewer's model. Views subscribe to the model and never change each other."""


def on_screen(widget) -> bool:
    """True when ``widget`` can be seen (a panel in a background dock tab cannot)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()
