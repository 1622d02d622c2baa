"""`zoomin train sft|grpo`: fine-tune a Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint on a dataset split
(docs/training.md).  The output folder loads with `--backend vlm --model DIR`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from models.safe_text import strict_dumps
from models.training.config import TrainConfig, TrainConfigError, parse_reward_weights


def _common_options(command: Callable) -> Callable:
    options = [
        click.argument("dataset_path", metavar="DATASET.jsonl", type=click.Path(dir_okay=False)),
        click.option("--base", "base_model", required=True, metavar="MODEL",
                     help="Hugging Face id (from the local cache) or checkpoint folder; for grpo also an sft output."),
        click.option("--out", "output_dir", required=True, type=click.Path(file_okay=False),
                     help="Folder for the adapter, processor and training_config.json."),
        click.option("--quant", "quantization", type=click.Choice(["4bit", "none"]), default="none",
                     show_default=True, help="4bit: QLoRA on an NF4 base (bitsandbytes); none: LoRA."),
        click.option("--max-steps", type=int, default=-1, show_default=True,
                     help="Optimisation steps (> 0 overrides --epochs)."),
        click.option("--epochs", type=float, default=1.0, show_default=True),
        click.option("--lr", "learning_rate", type=float, default=None, help="Learning rate [sft 1e-4, grpo 1e-5]."),
        click.option("--batch-size", type=int, default=1, show_default=True),
        click.option("--grad-accumulation", type=int, default=1, show_default=True),
        click.option("--lora-r", type=int, default=16, show_default=True),
        click.option("--lora-alpha", type=int, default=32, show_default=True),
        click.option("--lora-dropout", type=float, default=0.05, show_default=True),
        click.option("--target-modules", default=",".join(TrainConfig.__dataclass_fields__["target_modules"].default),
                     show_default=True, help="Comma-separated module names in the language model."),
        click.option("--max-image-pixels", type=int, default=TrainConfig.max_image_pixels, show_default=True,
                     help="Pixels of the full image the model sees (use the same with --backend vlm)."),
        click.option("--max-regions", type=int, default=3, show_default=True),
        click.option("--zoom-size", type=int, default=336, show_default=True),
        click.option("--evidence-context/--no-evidence-context", default=True, show_default=True,
                     help="Put the evidence engine's file findings in the prompts, as the backend does by default."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(method: str, trainer: Callable[[Path, TrainConfig], Any], dataset_path: str, learning_rate: float | None,
         target_modules: str, extra: dict[str, Any], **values: Any) -> None:
    from models.training.base import TrainingError

    if not Path(dataset_path).is_file():
        raise click.ClickException(f"dataset file not found: {dataset_path}")
    try:
        config = TrainConfig(method=method, learning_rate=learning_rate or (1e-4 if method == "sft" else 1e-5),
                             target_modules=tuple(m.strip() for m in target_modules.split(",") if m.strip()),
                             **values, **extra)
        result = trainer(Path(dataset_path), config)
    except (TrainConfigError, TrainingError) as exc:
        raise click.ClickException(str(exc)) from None
    summary = {"output": str(result.folder), "steps": result.steps, "final_loss": result.final_loss,
               "seconds": round(result.seconds, 1)}
    if result.rewards:
        summary["final_mean_reward"] = result.rewards[-1]
    click.echo(strict_dumps(summary))  # a diverged run's NaN loss is written as null
    click.echo(f"load it with: zoomin analyze IMAGE --backend vlm --model {result.folder} "
               f"--max-regions {config.max_regions}", err=True)


@click.group()
def train() -> None:
    """Fine-tune a Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint for the vlm backend (LoRA/QLoRA; docs/training.md)."""


@train.command()
@_common_options
def sft(**values: Any) -> None:
    """Supervised fine-tuning on both queries of each record (loss on the answers only)."""
    from models.training.sft import train_sft

    _run("sft", train_sft, values.pop("dataset_path"), values.pop("learning_rate"), values.pop("target_modules"),
         {}, **values)


@train.command()
@_common_options
@click.option("--reward-weights", default="format=1,label=1,iou=1", show_default=True,
              help="Weights of the format, label and box-IoU rewards.")
@click.option("--num-generations", type=int, default=4, show_default=True, help="Answers sampled per prompt.")
@click.option("--max-completion-length", type=int, default=256, show_default=True, help="Tokens per sampled answer.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
def grpo(reward_weights: str, num_generations: int, max_completion_length: int, temperature: float,
         **values: Any) -> None:
    """GRPO with format, label and box-IoU rewards; --base may be an sft output folder."""
    from models.training.grpo import train_grpo

    try:
        weights = parse_reward_weights(reward_weights)
    except TrainConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _run("grpo", train_grpo, values.pop("dataset_path"), values.pop("learning_rate"), values.pop("target_modules"),
         {"reward_weights": weights, "num_generations": num_generations,
          "max_completion_length": max_completion_length, "temperature": temperature}, **values)
