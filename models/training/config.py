"""Every knob of a training run, typed, checked and saved beside the checkpoint.

One TrainConfig drives both `zoomin train sft` and `zoomin train grpo`; the
fields GRPO alone reads (reward weights, generations, completion length) are
ignored by SFT.  It is written as training_config.json next to the adapter, so
a checkpoint always says how it was made.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from models.vlm.settings import MIN_IMAGE_PIXELS, VLMSettings

TrainQuantization = Literal["4bit", "none"]
REWARD_NAMES: tuple[str, ...] = ("format", "label", "iou")

# Qwen2.5-VL's language-model projections: LoRA goes there, the vision tower
# stays frozen (ZoomIn fine-tunes the language side; the tower is also kept
# unquantized at load, see models/vlm/loading.py).
DEFAULT_TARGET_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                           "down_proj")

CONFIG_FILE = "training_config.json"


class TrainConfigError(ValueError):
    """A setting is out of range; the message names it."""


@dataclass(frozen=True)
class TrainConfig:
    base_model: str
    output_dir: str
    method: Literal["sft", "grpo"] = "sft"
    quantization: TrainQuantization = "none"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    learning_rate: float = 1e-4
    epochs: float = 1.0
    max_steps: int = -1                    # > 0 overrides epochs
    batch_size: int = 1
    grad_accumulation: int = 1
    max_image_pixels: int = VLMSettings.max_image_pixels   # the backend's default, so training sees what serving sees
    max_regions: int = 3                   # as the backend's --max-regions: stage 1 names at most this many
    crop_margin: float = 0.25              # as the backend's crop settings: stage 2 sees the same crops
    zoom_size: int = 336
    evidence_context: bool = True          # as the backend's default: the engine's file findings in the prompt
    reward_weights: dict[str, float] = field(default_factory=lambda: {name: 1.0 for name in REWARD_NAMES})
    num_generations: int = 4
    max_completion_length: int = 256
    temperature: float = 1.0
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        checks = [
            (self.method in ("sft", "grpo"), f"method must be sft or grpo, got {self.method!r}"),
            (self.quantization in ("4bit", "none"), f"quantization must be 4bit or none, got {self.quantization!r}"),
            (self.lora_r >= 1, f"LoRA rank must be at least 1, got {self.lora_r}"),
            (self.lora_alpha > 0, f"LoRA alpha must be positive, got {self.lora_alpha}"),
            (0.0 <= self.lora_dropout < 1.0, f"LoRA dropout must be in [0, 1), got {self.lora_dropout}"),
            (bool(self.target_modules), "name at least one LoRA target module"),
            (self.learning_rate > 0, f"learning rate must be positive, got {self.learning_rate}"),
            (self.epochs > 0 or self.max_steps > 0, "give a positive number of epochs or of max steps"),
            (self.batch_size >= 1 and self.grad_accumulation >= 1, "batch size and gradient accumulation must be >= 1"),
            (self.max_image_pixels >= MIN_IMAGE_PIXELS, f"max image pixels must be at least {MIN_IMAGE_PIXELS}"),
            (1 <= self.max_regions <= 16, f"max regions must be between 1 and 16, got {self.max_regions}"),
            (self.num_generations >= 2, f"GRPO needs at least 2 generations per prompt, got {self.num_generations}"),
            (self.max_completion_length >= 1, "max completion length must be at least 1 token"),
            (self.temperature > 0, "temperature must be positive"),
            (self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainConfigError(message)
        unknown = set(self.reward_weights) - set(REWARD_NAMES)
        if unknown:
            raise TrainConfigError(f"unknown reward(s) {sorted(unknown)}; the rewards are {', '.join(REWARD_NAMES)}")
        if any(weight < 0 for weight in self.reward_weights.values()) or not any(self.reward_weights.values()):
            raise TrainConfigError("reward weights must be >= 0 and not all zero")

    @property
    def weights(self) -> list[float]:
        """The reward weights in REWARD_NAMES order (a reward left out weighs 0)."""
        return [float(self.reward_weights.get(name, 0.0)) for name in REWARD_NAMES]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def save(self, folder: Path, **extra: Any) -> Path:
        """training_config.json in `folder`: the config plus `extra` (dataset hash, losses, versions)."""
        path = Path(folder) / CONFIG_FILE
        path.write_text(json.dumps({"config": self.to_dict(), **extra}, indent=2, sort_keys=True) + "\n")
        return path


def parse_reward_weights(text: str) -> dict[str, float]:
    """"format=1,label=2,iou=0.5" -> {"format": 1.0, "label": 2.0, "iou": 0.5}; rewards left out weigh 0."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in REWARD_NAMES:
            raise TrainConfigError(f"cannot read reward weight {item!r}: write name=number with names from "
                                   f"{', '.join(REWARD_NAMES)}, e.g. format=1,label=1,iou=1")
        try:
            weights[name] = float(value)
        except ValueError:
            raise TrainConfigError(f"reward weight {item!r} is not a number") from None
    if not weights:
        raise TrainConfigError("no reward weights given (e.g. format=1,label=1,iou=1)")
    return {name: weights.get(name, 0.0) for name in REWARD_NAMES}
