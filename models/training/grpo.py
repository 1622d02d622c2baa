"""GRPO (trl's GRPOTrainer) on both queries of the protocol, rewarded for
format, label and box IoU (models/training/rewards.py), weighted as the
config says.

Each prompt is answered `num_generations` times; trl compares the rewards
within the group, so no value model is needed.  `batch_size` counts prompts
per device step (trl counts completions: batch_size x num_generations).
Starting from an SFT output folder continues training its adapter; starting
from a plain checkpoint adds a fresh LoRA.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.training.base import TrainingError, load_trainable, lora_config
from models.training.checkpoint import TrainingResult
from models.training.config import TrainConfig
from models.training.data import training_rows
from models.training.rewards import trl_reward_functions
from models.training.run import train_and_save, trainer_arguments

COLUMNS = ("prompt", "images", "stage", "label", "boxes", "region_count")


def train_grpo(dataset: Path, config: TrainConfig) -> TrainingResult:
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    if config.method != "grpo":
        raise TrainingError("train_grpo needs a config with method='grpo'")
    set_seed(config.seed)
    with tempfile.TemporaryDirectory(prefix="zoomin-grpo-") as scratch:
        # the rows first: a bad record or changed image stops the run before the model loads
        rows = training_rows(dataset, config, COLUMNS, Path(scratch) / "rows")
        trainable = load_trainable(config)
        common = trainer_arguments(config, trainable.device, trainable.dtype, Path(scratch) / "trainer")
        common["per_device_train_batch_size"] = config.batch_size * config.num_generations
        try:
            arguments = GRPOConfig(**common, num_generations=config.num_generations,
                                   max_completion_length=config.max_completion_length,
                                   temperature=config.temperature, reward_weights=config.weights,
                                   log_completions=False,
                                   # the family's template switches, as at inference (Qwen3.5: no thinking)
                                   chat_template_kwargs=trainable.family.template_options() or None)
            trainer = GRPOTrainer(model=trainable.model, reward_funcs=trl_reward_functions(config.max_regions),
                                  args=arguments, train_dataset=rows, processing_class=trainable.processor,
                                  peft_config=None if trainable.adapter_from else lora_config(config))
        except ValueError as exc:
            raise TrainingError(f"trl refused these settings: {exc}") from None
        return train_and_save(trainer, trainable, config, dataset, len(rows))
