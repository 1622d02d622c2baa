"""A training run's result, in one folder the VLM backend loads by path:

    adapter_config.json, adapter_model.safetensors   the LoRA weights (peft)
    preprocessor_config.json, tokenizer files, ...    the processor used
    training_config.json                              TrainConfig, the base's model
                                                      family, the dataset's path and
                                                      SHA-256, losses, versions

The family is what the backend checks before merging the adapter into a base
(models/vlm/adapter.py): LoRA weights of one family do not fit another.

adapter_config.json names the base model (`base_model_name_or_path`) as it
was given, so `--backend vlm --model DIR` finds the base in the local cache
or folder and merges the adapter (models/vlm/adapter.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.training.config import CONFIG_FILE, TrainConfig


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced and how it went."""

    folder: Path
    steps: int
    losses: list[float]
    rewards: list[float] = field(default_factory=list)   # GRPO: mean reward per logged step
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: Any, processor: Any, config: TrainConfig, base_model: str, dataset: Path,
                    examples: int, result: TrainingResult, family: Any = None) -> Path:
    """Write adapter, processor and training_config.json into config.output_dir."""
    from models.vlm.fingerprint import software_versions

    folder = Path(config.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for peft_config in model.peft_config.values():  # the base as given, not the cache path it resolved to
        peft_config.base_model_name_or_path = base_model
    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    recorded = {"name": family.name, "title": family.title, "box_convention": family.box_convention,
                "cell": family.cell} if family is not None else None
    config.save(folder, base_model=base_model, family=recorded,
                dataset={"path": str(Path(dataset).resolve()), "sha256": file_sha256(Path(dataset)),
                         "examples": examples},
                result={"steps": result.steps, "losses": result.losses, "rewards": result.rewards,
                        "seconds": round(result.seconds, 2)},
                software={**software_versions(), **_training_versions()})
    return folder


def _training_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("peft", "trl", "datasets"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def read_training_config(folder: Path) -> dict[str, Any]:
    """training_config.json of a checkpoint folder."""
    return json.loads((Path(folder) / CONFIG_FILE).read_text())
