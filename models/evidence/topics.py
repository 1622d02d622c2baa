"""Which provenance topic an evidence item belongs to, as the workbench's
provenance panel and the report's provenance section group them."""

from __future__ import annotations

from typing import Literal

from models.types import Evidence

# The source name camera_exif.py gives its findings.
CAMERA_SOURCE = "exif:camera"

ProvenanceTopic = Literal["c2pa", "other-provenance", "generator", "watermark", "camera"]


def provenance_topic(item: Evidence) -> ProvenanceTopic | None:
    """The topic of a file-level finding; None for signal and model findings."""
    if item.kind == "provenance":
        return "c2pa" if item.source == "c2pa" else "other-provenance"
    if item.kind == "watermark":
        return "watermark"
    if item.kind == "metadata":
        return "camera" if item.source == CAMERA_SOURCE else "generator"
    return None
