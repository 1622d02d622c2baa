"""What SFT and GRPO runs share: trainer arguments from a TrainConfig, the
losses read back from the trainer's log, and saving the result."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

from models.training.base import TrainableModel, TrainingError
from models.training.checkpoint import TrainingResult, save_checkpoint
from models.training.config import TrainConfig


def trainer_arguments(config: TrainConfig, device: str, dtype: str, scratch: Path) -> dict[str, Any]:
    """transformers.TrainingArguments fields (SFTConfig and GRPOConfig extend them)."""
    return {
        "output_dir": str(scratch), "learning_rate": config.learning_rate, "num_train_epochs": config.epochs,
        "max_steps": config.max_steps, "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accumulation, "seed": config.seed, "logging_steps": 1,
        "save_strategy": "no", "report_to": "none", "use_cpu": device == "cpu",
        "bf16": dtype == "bfloat16", "fp16": dtype == "float16",
        # Recomputing activations saves GPU memory for 3B/7B; on CPU (tests) it only costs time.
        "gradient_checkpointing": device == "cuda", "dataloader_num_workers": 0, "disable_tqdm": False,
        "remove_unused_columns": False,
    }


def train_and_save(trainer: Any, trainable: TrainableModel, config: TrainConfig, dataset: Path,
                   examples: int) -> TrainingResult:
    """Run `trainer`, refuse a non-finite loss, save the adapter beside its config."""
    start = time.perf_counter()
    try:
        # transformers prints its per-step log lines to stdout; they belong with the progress bar on
        # stderr, so stdout carries only the command's own result
        with contextlib.redirect_stdout(sys.stderr):
            output = trainer.train()
    except (RuntimeError, MemoryError) as exc:
        hint = " (try --quant 4bit, a smaller --max-image-pixels or batch size)" if "memory" in str(exc).lower() else ""
        raise TrainingError(f"training failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}{hint}") from None
    history = trainer.state.log_history
    losses = [float(entry["loss"]) for entry in history if "loss" in entry]
    rewards = [float(entry["reward"]) for entry in history if "reward" in entry]
    if not losses:
        raise TrainingError("training ran no optimisation step (is the dataset empty for this batch size?)")
    if not all(math.isfinite(loss) for loss in losses):
        raise TrainingError(f"the loss became non-finite ({losses}); lower --lr or check the data; nothing was saved")
    result = TrainingResult(Path(config.output_dir), int(output.global_step), losses, rewards,
                            time.perf_counter() - start)
    save_checkpoint(trainer.model, trainable.processor, config, trainable.base_model, dataset, examples, result,
                    trainable.family)
    return result
