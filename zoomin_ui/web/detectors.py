"""Which detector backends the page offers, and one instance of each.

The embedded evidence engine is always there and the default; a
vision-language backend is offered when configured (flags or the
ZOOMIN_VLM_* / ZOOMIN_REMOTE_* variables its backend reads).  Detectors are
made on first use and shared: loading a model once per click would be
unworkable."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.detector import Detector
from zoomin_ui.service import WorkbenchError, open_detector

LABELS = {"evidence": "evidence engine (embedded)", "vlm": "vision-language model (local)",
          "remote": "vision-language model (server)"}


@dataclass(frozen=True)
class BackendConfig:
    default: str = "evidence"
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # backend -> its options

    @classmethod
    def from_env(cls, default: str = "evidence", env: Mapping[str, str] = os.environ,
                 **given: Mapping[str, Any]) -> BackendConfig:
        """`given` options per backend (from flags) plus what the environment configures."""
        options: dict[str, dict[str, Any]] = {"evidence": dict(given.get("evidence") or {})}
        if given.get("vlm") or env.get("ZOOMIN_VLM_MODEL"):
            options["vlm"] = dict(given.get("vlm") or {})
        if given.get("remote") or env.get("ZOOMIN_REMOTE_BASE_URL"):
            options["remote"] = dict(given.get("remote") or {})
        if default not in options:
            raise WorkbenchError(f"the {default} backend is not configured: give its model or server "
                                 "(see docs/workbench.md)", "config")
        return cls(default, options)

    def available(self) -> list[str]:
        return list(self.options)

    def choices(self) -> list[tuple[str, str]]:
        return [(LABELS.get(name, name), name) for name in self.available()]


class Detectors:
    """One detector per backend, made when first asked for."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self._made: dict[str, Detector] = {}
        self._lock = threading.Lock()

    def opened(self, name: str | None) -> Detector | None:
        """The backend's detector if it is open already (None: asking would load it)."""
        with self._lock:
            return self._made.get(name or self.config.default)

    def get(self, name: str | None) -> Detector:
        name = name or self.config.default
        if name not in self.config.options:
            raise WorkbenchError(f"backend {name!r} is not configured here; available: "
                                 f"{', '.join(self.config.available())}", "config")
        with self._lock:
            if name not in self._made:
                self._made[name] = open_detector(name, **self.config.options[name])
            return self._made[name]
