"""A LoRA adapter folder (what `zoomin train sft|grpo` writes) as a model the
backend can load by path: the folder names its base model in
adapter_config.json (base_model_name_or_path); the base is loaded as usual
and the adapter merged into it, so generation runs on a plain model.
The run's training_config.json records the base's model family; LoRA weights
of one family do not fit another, so a mismatch is refused with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.detector import DetectorUnavailable
from models.vlm.families import FAMILY_NAMES, ModelFamily, by_name

ADAPTER_CONFIG = "adapter_config.json"
TRAINING_CONFIG = "training_config.json"   # written by models/training/checkpoint.py


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


def adapter_family(folder: Path) -> ModelFamily | None:
    """The model family the adapter was trained on, as its training_config.json records it
    (None for an adapter written before families were recorded)."""
    try:
        recorded = json.loads((Path(folder) / TRAINING_CONFIG).read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        return None
    if not recorded:
        return None
    name = recorded.get("name") if isinstance(recorded, dict) else recorded
    if str(name) not in FAMILY_NAMES:
        raise DetectorUnavailable(f"the adapter in {folder} records the model family {name!r}, which this "
                                  f"version does not know (known: {', '.join(FAMILY_NAMES)})")
    return by_name(str(name))


def check_adapter_family(folder: Path, base_family: ModelFamily, base: str) -> None:
    """Refuse an adapter trained on another family than the base it is applied to."""
    trained_on = adapter_family(folder)
    if trained_on is not None and trained_on != base_family:
        raise DetectorUnavailable(
            f"the adapter in {folder} was trained on a {trained_on.title} model, but its base {base} is a "
            f"{base_family.title} checkpoint: LoRA weights fit only the architecture they were trained on "
            f"(layer shapes, {trained_on.cell} px vs {base_family.cell} px image cells, "
            f"{trained_on.box_convention} vs {base_family.box_convention} boxes); use the {trained_on.title} "
            "base it was trained on, or train an adapter for this base")


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
