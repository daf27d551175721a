"""Pictures (PyVista, off screen) of flows and bodies, and plots (matplotlib) of shapes and histories."""
