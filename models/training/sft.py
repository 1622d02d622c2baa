"""Supervised fine-tuning: LoRA (or QLoRA on a 4-bit base) with trl's
SFTTrainer on the two-stage conversations.

Rows are prompt-completion pairs (prompt = system + user turn as the backend
sends it, completion = the answer the record implies), so trl's vision
collator masks every prompt token, images included: the loss is on the
assistant's answer only (completion_only_loss).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.training.base import TrainingError, load_trainable, lora_config
from models.training.checkpoint import TrainingResult
from models.training.config import TrainConfig
from models.training.data import training_rows
from models.training.run import train_and_save, trainer_arguments


def train_sft(dataset: Path, config: TrainConfig) -> TrainingResult:
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    if config.method != "sft":
        raise TrainingError("train_sft needs a config with method='sft'")
    set_seed(config.seed)
    with tempfile.TemporaryDirectory(prefix="zoomin-sft-") as scratch:
        # the rows first: a bad record or changed image stops the run before the model loads
        rows = training_rows(dataset, config, ("prompt", "completion", "images"), Path(scratch) / "rows")
        trainable = load_trainable(config)
        try:
            common = trainer_arguments(config, trainable.device, trainable.dtype, Path(scratch) / "trainer")
            arguments = SFTConfig(**common,
                                  completion_only_loss=True, max_length=None,  # truncation would cut image tokens
                                  packing=False, padding_free=False, dataset_kwargs={"skip_prepare_dataset": True})
            trainer = SFTTrainer(model=trainable.model, args=arguments, train_dataset=rows,
                                 processing_class=trainable.processor,
                                 peft_config=None if trainable.adapter_from else lora_config(config))
        except ValueError as exc:
            raise TrainingError(f"trl refused these settings: {exc}") from None
        return train_and_save(trainer, trainable, config, dataset, len(rows))
