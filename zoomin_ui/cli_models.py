"""`zoomin models suggest`: which checkpoint and quantization fit this machine
(estimates from models/vlm/hardware.py, labelled as such)."""

from __future__ import annotations

import click

from models.vlm.hardware import HEADROOM, Machine, best, suggestions, this_machine


@click.command("suggest")
@click.option("--ram-gb", type=click.FloatRange(0.5), default=None, help="Plan for this much RAM (GiB) instead.")
@click.option("--vram-gb", type=click.FloatRange(0.0), default=None,
              help="Plan for a GPU with this much memory (GiB) instead; 0 plans for the CPU.")
@click.option("--all", "show_all", is_flag=True, help="List the checkpoints that do not fit too.")
def suggest(ram_gb: float | None, vram_gb: float | None, show_all: bool) -> None:
    """Suggest a checkpoint and quantization for this machine's RAM, GPU and VRAM (estimates)."""
    found = this_machine()
    gpu = found.gpu if vram_gb is None else ("planned GPU" if vram_gb > 0 else None)
    machine = Machine(ram_gib=ram_gb if ram_gb is not None else found.ram_gib, gpu=gpu,
                      vram_gib=found.vram_gib if vram_gb is None else (vram_gb or None))
    where = (f"GPU {machine.gpu} with {machine.vram_gib:.1f} GiB" if machine.device == "cuda"
             else f"CPU only, {machine.ram_gib:.1f} GiB RAM")
    click.echo(f"this machine: {where}; a model may use about {HEADROOM:.0%} of it")
    choice = best(machine)
    if choice is None:
        click.echo("no supported checkpoint fits (even the smallest at 4-bit); use --backend remote against a "
                   "server, or the evidence engine (the default backend)")
    else:
        family = choice.checkpoint.family
        click.echo(f"suggested: {choice.checkpoint.model_id} ({family.title}, boxes {family.box_convention}) "
                   f"--quant {choice.quantization}: about {choice.estimated_gib:.1f} GiB (estimate)")
        for note in family.notes:
            click.echo(f"  note: {note}")
        click.echo(f"  zoomin models pull {choice.checkpoint.model_id}")
        click.echo(f"  zoomin analyze photo.jpg --backend vlm --model {choice.checkpoint.model_id} "
                   f"--quant {choice.quantization}")
    click.echo("estimated memory (GiB, weights + ~1.5 GiB working memory; estimates, not measurements):")
    for item in suggestions(machine):
        if item.fits or show_all:
            mark = "fits" if item.fits else "too large"
            click.echo(f"  {item.checkpoint.model_id:34s} {item.quantization:5s} {item.estimated_gib:6.1f}  {mark}")
