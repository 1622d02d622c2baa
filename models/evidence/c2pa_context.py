"""The c2pa-python validation Context: offline (no remote manifests, no OCSP),
trust checked against the official C2PA lists plus the roots of a PEM file
the user adds; one cached Context per version of both."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from models.evidence.trust_list import TrustList, anchors_pem

_contexts: dict[tuple, Any] = {}
_contexts_lock = threading.Lock()


def context_for(c2pa: Any, anchors_path: str | os.PathLike | None,
                errors: list[str]) -> tuple[Any, bool, list[TrustList]]:
    """A cached offline validation Context, one per trust-list and anchor-file version:
    the official lists' roots plus those of the user's PEM file."""
    official, lists = anchors_pem()
    extra, key_extra = "", ("",)
    if anchors_path is not None:
        path = Path(anchors_path)
        try:
            stat = path.stat()
            key_extra = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            extra = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"the trust anchor file {str(path)!r} could not be read ({exc}); "
                          "signers were checked against the C2PA trust list only")
            key_extra, extra = ("",), ""
    key = (tuple((str(t.path), t.issued.isoformat()) for t in lists), key_extra)
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = _new_context(c2pa, official, extra)
        context, configured, rejected = _contexts[key]
    errors.extend(rejected)
    return context, configured, lists


def _new_context(c2pa: Any, official: str, extra: str) -> tuple[Any, bool, list[str]]:
    """(context, whether a trust list is configured, notes on anchors c2pa rejected)."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                                           "verify_trust": True, "verify_after_reading": True}}
    notes: list[str] = []
    for pem, what in ((official + "\n" + extra, "the added trust anchors"), (official, "the C2PA trust list")):
        if not pem.strip() or (what.startswith("the added") and not extra.strip()):
            continue
        try:
            return c2pa.Context.from_dict({**settings, "trust": {"trust_anchors": pem}}), True, notes
        except Exception as exc:  # e.g. a PEM file c2pa cannot parse
            notes.append(f"{what} were rejected by c2pa ({_short(exc)})")
    notes.append("signers were checked against no trust list")
    return c2pa.Context.from_dict(settings), False, notes




def _short(exc: BaseException, limit: int = 300) -> str:
    message = str(exc).strip() or type(exc).__name__
    return message if len(message) <= limit else message[:limit] + "..."
