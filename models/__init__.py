"""Detectors and the typed values they share (see models.types)."""
