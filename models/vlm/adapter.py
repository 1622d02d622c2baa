"""A LoRA adapter folder (what `zoomin train sft|grpo` writes) as a model the
backend can load by path: the folder names its base model in
adapter_config.json (base_model_name_or_path); the base is loaded as usual
and the adapter merged into it, so generation runs on a plain model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.detector import DetectorUnavailable

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_folder(path: str | Path | None) -> bool:
    folder = Path(path).expanduser() if path else None
    return bool(folder and folder.is_dir() and (folder / ADAPTER_CONFIG).is_file()
                and not (folder / "config.json").is_file())


def adapter_base_model(folder: Path) -> str:
    """The base checkpoint an adapter was trained on (hub id or folder)."""
    try:
        base = json.loads((Path(folder) / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise DetectorUnavailable(f"cannot read {folder / ADAPTER_CONFIG}: {exc}") from None
    if not base:
        raise DetectorUnavailable(f"{folder / ADAPTER_CONFIG} names no base_model_name_or_path: the adapter's "
                                  "base model is unknown")
    return str(base)


def processor_folder(adapter: Path | None, base: Path) -> Path:
    """Where to read the processor: the adapter's own copy when it saved one."""
    if adapter and any((adapter / name).is_file() for name in ("processor_config.json", "preprocessor_config.json")):
        return adapter
    return base


def merge_adapter(model: Any, folder: Path) -> Any:
    """The base model with the adapter's LoRA weights merged in (for 4-bit bases
    peft dequantizes, merges and requantizes, which rounds the update)."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DetectorUnavailable(f"cannot apply the adapter in {folder} to its base model: "
                                  f"{type(exc).__name__}: {exc}") from None
