"""Detectors and the typed values they share (see models.types)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zoomin-workbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+source"
