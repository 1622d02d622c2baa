"""The embedded evidence engine: provenance, metadata, watermarks and signal
maps, needing no model download and no GPU."""
