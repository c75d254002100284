"""gclib: geometric complexity and geometric regularization companion library."""
__version__ = "0.1.0"
