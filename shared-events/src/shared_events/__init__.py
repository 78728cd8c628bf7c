"""Versioned event contracts shared by the order, payment and inventory services."""

from importlib.metadata import version

__version__ = version("shared-events")
