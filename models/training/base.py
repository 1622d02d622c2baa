"""The model a training run starts from: a checkpoint of a supported family
(Qwen2.5-VL, Qwen3-VL, Qwen3.5: models/vlm/families.py; hub id or folder),
plain (LoRA) or 4-bit NF4 (QLoRA), or an earlier run's adapter
folder (GRPO after SFT continues training that adapter).

Weights are found the way the backend finds them (models/vlm/loading.py:
local cache or folder, never a download here unless the hub is reachable),
and quantized with the same NF4 settings, so what is trained is what is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.detector import DetectorUnavailable
from models.training.config import TrainConfig
from models.vlm.adapter import adapter_base_model, check_adapter_family, is_adapter_folder, processor_folder
from models.vlm.families import ModelFamily, UnknownFamily, for_checkpoint


class TrainingError(Exception):
    """A training run cannot start or failed; the message says why and what to do."""


@dataclass
class TrainableModel:
    model: Any                 # a PeftModel when `adapter_from` is set, else the plain base model
    processor: Any
    base_model: str            # as given (hub id or absolute folder), written into the adapter's config
    base_folder: Path
    adapter_from: Path | None  # an earlier adapter being trained further
    device: str
    dtype: str
    family: ModelFamily


def base_family(config: TrainConfig) -> ModelFamily:
    """The family of the checkpoint a run starts from (an adapter: of its base), from its config.json;
    the conversations are built in its conventions before the model itself loads."""
    from models.vlm.loading import locate_weights

    given = Path(config.base_model).expanduser()
    base = adapter_base_model(given.resolve()) if is_adapter_folder(given) else config.base_model
    try:
        folder, _ = locate_weights(base)
        return for_checkpoint(folder)
    except (DetectorUnavailable, UnknownFamily) as exc:
        raise TrainingError(f"base model: {exc}") from None


def resolve_device(config: TrainConfig) -> tuple[str, str]:
    """(device, dtype name): CUDA with bfloat16 where it runs, CPU float32 otherwise."""
    import torch

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for, but no CUDA GPU is visible to torch")
    if device == "cuda":
        return device, "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return device, "float32"


def load_trainable(config: TrainConfig) -> TrainableModel:
    """The base model (and processor) for `config`, ready for LoRA."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig

    from models.vlm.loading import _bitsandbytes_problem, locate_weights, not_quantized

    device, dtype_name = resolve_device(config)
    given = Path(config.base_model).expanduser()
    adapter_from = given.resolve() if is_adapter_folder(given) else None
    base = adapter_base_model(adapter_from) if adapter_from else config.base_model
    try:
        folder, _ = locate_weights(base)
    except DetectorUnavailable as exc:
        raise TrainingError(f"base model: {exc}") from None
    try:
        family = for_checkpoint(folder)
        if adapter_from is not None:  # GRPO after SFT: the adapter must fit this base
            check_adapter_family(adapter_from, family, base)
    except (DetectorUnavailable, UnknownFamily) as exc:
        raise TrainingError(f"base model: {exc}") from None
    base = str(folder.resolve()) if Path(base).expanduser().is_dir() else base
    dtype = getattr(torch, dtype_name)
    options: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if config.quantization == "4bit":
        if problem := _bitsandbytes_problem(device):
            raise TrainingError(f"4-bit (QLoRA) is not available on {device}: {problem}; use --quant none")
        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype, llm_int8_skip_modules=not_quantized(family))
        options["device_map"] = device
    try:
        model = AutoModelForImageTextToText.from_pretrained(folder, **options)
        processor = AutoProcessor.from_pretrained(processor_folder(adapter_from, folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        raise TrainingError(f"{folder} is not a usable {family.title} checkpoint: {type(exc).__name__}: {exc}"
                            ) from None
    if config.quantization == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=device == "cuda")
    else:
        model.to(device)
    if adapter_from is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_from), is_trainable=True)
    return TrainableModel(model, processor, base, folder, adapter_from, device, dtype_name, family)


def lora_config(config: TrainConfig):
    """LoRA on the language model's projections only: the vision tower's blocks
    use the same module names (gate_proj, ...), so names alone would catch it."""
    from peft import LoraConfig

    names = "|".join(sorted(set(config.target_modules)))
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=rf"^model\.language_model\..*\.({names})$", task_type="CAUSAL_LM")
