"""Qt-free state of the viewer: the open session, what is displayed, background requests."""
