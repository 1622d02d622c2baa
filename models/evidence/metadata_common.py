"""Pieces shared by the metadata readers (see generator_metadata.py): the
forgery caveat every finding carries, the input bounds, the Midjourney job-ID
pattern, the "ai-generated" Evidence constructor and small decoding helpers
(bounded JSON, printable-text check, scalar clipping)."""

from __future__ import annotations

import re
from typing import Any

from models.safe_text import loads_keeping_constants
from models.types import Evidence

FORGEABLE = " Metadata can be forged or stripped: its presence is strong evidence, its absence proves nothing."
MAX_TEXT = 1_000_000  # Pillow's own per-chunk cap; larger values are cut before parsing
MAX_PARAM_LINE = 20_000  # keeps the key/value scan linear on hostile input

MIDJOURNEY_JOB = re.compile(r"Job ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def ai_evidence(source: str, finding: str, details: dict[str, Any], strength: float = 0.95,
                decisive: bool = True) -> Evidence:
    return Evidence("metadata", source, finding + FORGEABLE, supports="ai-generated", strength=strength,
                    decisive=decisive, details=details)


def load_json(text: str) -> Any:
    """Generators' JSON; their NaN/Infinity are kept as the strings written (see safe_text)."""
    try:
        return loads_keeping_constants(text[:MAX_TEXT])
    except Exception:  # broken, truncated or absurdly nested JSON
        return None


def mostly_printable(text: str) -> bool:
    sample = text[:4000]
    good = sum(ch.isprintable() or ch in "\n\r\t" for ch in sample)
    return good >= 0.9 * len(sample) and "\ufffd" * 3 not in sample


def scalar(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)[:300]
