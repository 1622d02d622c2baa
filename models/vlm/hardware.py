"""Which checkpoint and quantization fit this machine (`zoomin models suggest`).

The memory figures are estimates, said so wherever they are shown: weights at
the quantization's bytes per parameter (NF4 with double quantization about 4.5
bits, int8 about 8.5 bits with its scales, bfloat16 2 bytes, float32 4 bytes on
CPU where the backend computes in float32), the vision tower always kept
unquantized (models/vlm/loading.py), plus a working allowance for activations
and the KV cache of one ~1,000-token image and its crops.  Parameter counts are
the model cards' (rounded); a suggestion leaves a share of memory free for the
rest of the machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from models.vlm.families import QWEN2_5_VL, QWEN3_5, QWEN3_VL, QWEN3_VL_MOE, ModelFamily

GIB = 1024 ** 3
HEADROOM = 0.85          # use at most this share of the memory
WORKING_GIB = 1.5        # activations, KV cache, processor buffers (one image, two queries)
CPU_MAX_PARAMETERS_B = 5.0   # larger models fit in RAM but take minutes per image on a CPU
BYTES_PER_PARAMETER = {"4bit": 0.5625, "8bit": 1.0625, "bfloat16": 2.0, "float32": 4.0}


@dataclass(frozen=True)
class Checkpoint:
    model_id: str
    family: ModelFamily
    parameters_b: float        # all parameters, billions (model card, rounded)
    vision_b: float            # of which the vision tower
    quantizable_share: float = 1.0   # of the language side; MoE experts are fused tensors bitsandbytes skips


CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint("Qwen/Qwen3-VL-2B-Instruct", QWEN3_VL, 2.1, 0.4),
    Checkpoint("Qwen/Qwen2.5-VL-3B-Instruct", QWEN2_5_VL, 3.8, 0.7),
    Checkpoint("Qwen/Qwen3-VL-4B-Instruct", QWEN3_VL, 4.4, 0.4),
    Checkpoint("Qwen/Qwen3.5-4B", QWEN3_5, 4.7, 0.4),
    Checkpoint("Qwen/Qwen2.5-VL-7B-Instruct", QWEN2_5_VL, 8.3, 0.7),
    Checkpoint("Qwen/Qwen3-VL-8B-Instruct", QWEN3_VL, 8.8, 0.6),
    Checkpoint("Qwen/Qwen3.5-9B", QWEN3_5, 9.7, 0.5),
    Checkpoint("Qwen/Qwen3.5-27B", QWEN3_5, 27.8, 0.5),
    Checkpoint("Qwen/Qwen3-VL-30B-A3B-Instruct", QWEN3_VL_MOE, 31.1, 0.6, quantizable_share=0.1),
    Checkpoint("Qwen/Qwen3-VL-32B-Instruct", QWEN3_VL, 33.4, 0.6),
)


@dataclass(frozen=True)
class Machine:
    ram_gib: float
    gpu: str | None = None
    vram_gib: float | None = None

    @property
    def device(self) -> str:
        return "cuda" if self.gpu and self.vram_gib else "cpu"

    @property
    def memory_gib(self) -> float:
        """The memory the model must fit in: the GPU's where there is one, else RAM."""
        return float(self.vram_gib) if self.device == "cuda" else self.ram_gib


@dataclass(frozen=True)
class Suggestion:
    checkpoint: Checkpoint
    quantization: str          # "4bit" | "8bit" | "none"
    estimated_gib: float
    fits: bool


def this_machine() -> Machine:
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / GIB
    gpu = vram = None
    try:
        import torch

        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            gpu, vram = properties.name, properties.total_memory / GIB
    except Exception:  # a broken CUDA install: plan for the CPU
        gpu = vram = None
    return Machine(ram_gib=ram, gpu=gpu, vram_gib=vram)


def estimated_gib(checkpoint: Checkpoint, quantization: str, device: str) -> float:
    """Estimated memory to load and run `checkpoint` (GiB)."""
    full = "bfloat16" if device == "cuda" else "float32"
    language = checkpoint.parameters_b - checkpoint.vision_b
    if quantization == "none":
        language_bytes = language * BYTES_PER_PARAMETER[full]
    else:
        quantized = language * checkpoint.quantizable_share
        language_bytes = (quantized * BYTES_PER_PARAMETER[quantization]
                          + (language - quantized) * BYTES_PER_PARAMETER[full])
    weights = (language_bytes + checkpoint.vision_b * BYTES_PER_PARAMETER[full]) * 1e9 / GIB
    return round(weights + WORKING_GIB, 1)


def suggestions(machine: Machine) -> list[Suggestion]:
    """Every checkpoint at 4-bit, 8-bit and unquantized, with its estimate and whether it fits."""
    budget = machine.memory_gib * HEADROOM
    found = []
    for checkpoint in CHECKPOINTS:
        for quantization in ("4bit", "8bit", "none"):
            need = estimated_gib(checkpoint, quantization, machine.device)
            found.append(Suggestion(checkpoint, quantization, need, need <= budget))
    return found


def best(machine: Machine) -> Suggestion | None:
    """The largest checkpoint that fits, at the least lossy quantization that fits it
    (on CPU 4-bit is preferred: float32 weights are four times the bytes to stream;
    and no more than CPU_MAX_PARAMETERS_B, for speed)."""
    fitting = [s for s in suggestions(machine) if s.fits and (
        machine.device == "cuda" or s.checkpoint.parameters_b <= CPU_MAX_PARAMETERS_B)]
    if not fitting:
        return None
    order = {"none": 0, "8bit": 1, "4bit": 2} if machine.device == "cuda" else {"4bit": 0, "8bit": 1, "none": 2}
    dense = [s for s in fitting if not s.checkpoint.family.mixture_of_experts] or fitting
    largest = max(s.checkpoint.parameters_b for s in dense)
    chosen = [s for s in dense if s.checkpoint.parameters_b == largest]
    return min(chosen, key=lambda s: order[s.quantization])
