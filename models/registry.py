"""Every detector backend, registered in one place.

Backends are imported only when asked for, so the command line starts fast and
a backend whose optional packages are missing fails only when it is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.detector import Detector


def _evidence_engine(**options: Any) -> Detector:
    from models.evidence.engine import EvidenceEngine

    return EvidenceEngine(**options)


def _local_vlm(**options: Any) -> Detector:
    from models.vlm.backends import LocalVLM

    return LocalVLM(**options)


def _remote_vlm(**options: Any) -> Detector:
    from models.vlm.backends import RemoteVLM

    return RemoteVLM(**options)


BACKENDS: dict[str, tuple[Callable[..., Detector], str]] = {
    "evidence": (_evidence_engine, "embedded evidence engine: provenance, metadata, watermarks, signal maps"),
    "vlm": (_local_vlm, "Qwen2.5-VL / Qwen3-VL / Qwen3.5 locate-then-examine on this machine (transformers, 4-bit bitsandbytes)"),
    "remote": (_remote_vlm, "the same two queries to an OpenAI-compatible server (vLLM, SGLang, LM Studio, Ollama)"),
}


class UnknownBackend(ValueError):
    pass


def create_detector(name: str = "evidence", **options: Any) -> Detector:
    """A ready detector for the backend `name`, configured with `options`."""
    try:
        factory, _ = BACKENDS[name]
    except KeyError:
        raise UnknownBackend(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}") from None
    return factory(**options)
