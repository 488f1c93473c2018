"""order-assistant: diagnose failed Amazon orders on VTEX and guide the fix."""

__version__ = "0.1.0"
