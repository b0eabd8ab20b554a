"""Qt views of the viewer's model. Views subscribe to the model and never change each other."""
