"""The vision-language model families the backend speaks, one declarative entry each.

Everything that differs between Qwen2.5-VL, Qwen3-VL and Qwen3.5 lives here,
so loading, prompting, parsing, geometry, annotation, training and evaluation
ask the family instead of assuming one:

  Qwen2.5-VL  14 px patches merged 2x2 (28 px cells); boxes in absolute pixels of
              the resized input ("absolute-resized").
  Qwen3-VL    16 px patches merged 2x2 (32 px cells); boxes relative, 0-1000 on each
              axis ("relative-1000"); a larger minimum image (256x256).
  Qwen3.5     the Qwen3-VL vision side and processor; boxes 0-1000; the language side
              mixes linear (gated delta-net) and full attention layers, whose
              recurrent state cannot be cut back to a shared prefix, so its cache is
              copied at the prefix end during the prefill (prefix_reuse "snapshot");
              it thinks by default, so the chat template is asked not to.

Facts checked in transformers 5.24 (models/qwen2_5_vl, qwen3_vl, qwen3_5 config and
processor defaults), the checkpoints' preprocessor_config.json, and the Qwen3-VL
grounding cookbook ("relative coordinates ranging from 0 to 1000").
A checkpoint's family is read from its config.json (model_type, architectures);
a server's from the model name it serves, or named outright (--family), and
where neither says, Qwen2.5-VL with a note in the result saying it was assumed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BoxConvention = Literal["absolute-resized", "relative-1000"]
# How stage 2 reuses what stage 1 computed for the shared prefix (system text, full image, context):
#   "crop"      keep each query's cache and cut it back to the tokens the next query shares
#               (attention keys and values only: any prefix of them is exact);
#   "snapshot"  copy the cache at the end of the shared prefix while the first query is prefilled;
#               every query about the image continues from a fresh copy (a recurrent state, as in
#               linear-attention layers, holds the whole past and cannot be cut back, only copied).
PrefixReuse = Literal["crop", "snapshot"]


@dataclass(frozen=True)
class RecurrentMixer:
    """Where a snapshot family's recurrent layers are and how they are wired (prefix_snapshot.py): the
    decoder layers' attribute holding one, its projections of the layer's input, and its projection out."""

    attribute: str
    input_projections: tuple[str, ...]
    output_projection: str


# Qwen3.5's gated delta-net (transformers' Qwen3_5GatedDeltaNet and Qwen3_5MoeGatedDeltaNet)
GATED_DELTA_NET = RecurrentMixer("linear_attn", ("in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"), "out_proj")


@dataclass(frozen=True)
class ModelFamily:
    name: str                          # the id users type (--family)
    title: str                         # how reports and messages name it
    model_types: tuple[str, ...]       # config.json "model_type" values
    architectures: tuple[str, ...]     # config.json "architectures" values
    model_class: str                   # the transformers class AutoModelForImageTextToText picks
    processor_class: str
    patch_size: int
    merge_size: int
    min_pixels: int                    # the processor's default bounds (size.shortest_edge / longest_edge)
    max_pixels: int
    box_convention: BoxConvention
    name_pattern: str                  # a served model's name that belongs to this family (case-insensitive)
    prefix_reuse: PrefixReuse          # how stage 2 continues from stage 1's cache, exactly (see above)
    # "snapshot" families: the layers whose state the snapshot copies mid-prompt (prefix_snapshot.py)
    recurrent_mixer: RecurrentMixer | None = None
    # passed to apply_chat_template (and to a server as chat_template_kwargs); Qwen3.5's
    # template opens a <think> block unless told enable_thinking=False
    chat_template_options: tuple[tuple[str, object], ...] = ()
    mixture_of_experts: bool = False
    keep_unquantized: tuple[str, ...] = ()   # module names kept out of 4/8-bit beside the vision tower
    quantization_note: str = ""              # what 4/8-bit leaves out on this family, said when it loads so
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # A snapshot needs to know which layers carry a recurrent state; without it the backend
        # would quietly reuse nothing and recompute every stage 2 in full.
        if self.prefix_reuse == "snapshot" and self.recurrent_mixer is None:
            raise ValueError(f"model family {self.name!r} keeps a snapshot of its prefix but names no "
                             "recurrent_mixer: say which layers' state the snapshot copies")

    @property
    def cell(self) -> int:
        """Pixels per side of one visual token: patches merged merge_size x merge_size."""
        return self.patch_size * self.merge_size

    @property
    def box_units(self) -> str:
        """The geometry's name for the units this family writes boxes in."""
        return "pixels" if self.box_convention == "absolute-resized" else "normalized-1000"

    def box_words(self, width: int, height: int) -> str:
        """How a prompt asks for (and shows) boxes in this family's convention."""
        if self.box_convention == "absolute-resized":
            return f"in pixels of this {width}x{height} image"
        return ("in coordinates relative to the image from 0 to 1000 on each axis ((0, 0) is the top-left "
                "corner, (1000, 1000) the bottom-right)")

    def caption_units(self) -> str:
        return "" if self.box_convention == "absolute-resized" else " (0-1000)"

    def template_options(self) -> dict[str, object]:
        return dict(self.chat_template_options)


QWEN2_5_VL = ModelFamily(
    name="qwen2.5-vl", title="Qwen2.5-VL", model_types=("qwen2_5_vl",),
    architectures=("Qwen2_5_VLForConditionalGeneration",), model_class="Qwen2_5_VLForConditionalGeneration",
    processor_class="Qwen2_5_VLProcessor", patch_size=14, merge_size=2, min_pixels=56 * 56,
    max_pixels=28 * 28 * 1280, box_convention="absolute-resized", name_pattern=r"qwen2[._-]?5[._-]?vl",
    prefix_reuse="crop")

QWEN3_VL = ModelFamily(
    name="qwen3-vl", title="Qwen3-VL", model_types=("qwen3_vl",),
    architectures=("Qwen3VLForConditionalGeneration",), model_class="Qwen3VLForConditionalGeneration",
    processor_class="Qwen3VLProcessor", patch_size=16, merge_size=2, min_pixels=256 * 256,
    max_pixels=4096 * 4096, box_convention="relative-1000", name_pattern=r"qwen3[._-]?vl(?![._-]?\d+b[._-]?a\d)",
    prefix_reuse="crop",
    notes=("the -Thinking checkpoints write their reasoning before the answer, ended by </think>",))

# Measured on the tiny mixture-of-experts models (bitsandbytes 0.50, transformers 5.24): nf4 and int8 load
# and run, but the routed experts are one 3-D weight tensor per layer (experts.gate_up_proj, .down_proj),
# not Linear layers, so bitsandbytes converts only the attention projections (and Qwen3.5-MoE's shared expert).
_EXPERTS_NOTE = ("the routed experts are fused 3-D weight tensors that bitsandbytes does not quantize: they stay "
                 "in the unquantized dtype, and most of the model's memory with them")

QWEN3_VL_MOE = ModelFamily(
    name="qwen3-vl-moe", title="Qwen3-VL (mixture of experts)", model_types=("qwen3_vl_moe",),
    architectures=("Qwen3VLMoeForConditionalGeneration",), model_class="Qwen3VLMoeForConditionalGeneration",
    processor_class="Qwen3VLProcessor", patch_size=16, merge_size=2, min_pixels=256 * 256,
    max_pixels=4096 * 4096, box_convention="relative-1000", name_pattern=r"qwen3[._-]?vl[._-]?\d+b[._-]?a\d",
    prefix_reuse="crop", mixture_of_experts=True, quantization_note=_EXPERTS_NOTE)

_QWEN3_5_COMMON = dict(
    processor_class="Qwen3VLProcessor", patch_size=16, merge_size=2, min_pixels=256 * 256, max_pixels=4096 * 4096,
    box_convention="relative-1000", prefix_reuse="snapshot", recurrent_mixer=GATED_DELTA_NET,
    chat_template_options=(("enable_thinking", False),),
    # the linear-attention layers' gate projections (hidden x heads: tiny) set the recurrence's decay;
    # kept in full precision, which also keeps bitsandbytes' CPU kernel (rows in multiples of 32) usable
    keep_unquantized=("in_proj_a", "in_proj_b"))

QWEN3_5 = ModelFamily(
    name="qwen3.5", title="Qwen3.5", model_types=("qwen3_5",), architectures=("Qwen3_5ForConditionalGeneration",),
    model_class="Qwen3_5ForConditionalGeneration", name_pattern=r"qwen3[._-]5(?![._-]?\d+b[._-]?a\d)",
    notes=("linear-attention layers keep a recurrent state that cannot be cut back to the shared prefix: the "
           "cache is copied at the prefix end during stage 1's prefill, for stage 2",), **_QWEN3_5_COMMON)

QWEN3_5_MOE = ModelFamily(
    name="qwen3.5-moe", title="Qwen3.5 (mixture of experts)", model_types=("qwen3_5_moe",),
    architectures=("Qwen3_5MoeForConditionalGeneration",), model_class="Qwen3_5MoeForConditionalGeneration",
    name_pattern=r"qwen3[._-]5[._-]?\d+b[._-]?a\d", mixture_of_experts=True,
    quantization_note=_EXPERTS_NOTE,
    # the shared expert's gate is hidden x 1: one output row, which bitsandbytes' CPU kernel cannot pack
    # (on CPUs with AVX512-BF16 the first forward fails with "N must be divisible by block_n")
    **{**_QWEN3_5_COMMON, "keep_unquantized": (*_QWEN3_5_COMMON["keep_unquantized"], "shared_expert_gate")})

FAMILIES: tuple[ModelFamily, ...] = (QWEN2_5_VL, QWEN3_VL, QWEN3_VL_MOE, QWEN3_5, QWEN3_5_MOE)
DEFAULT_FAMILY = QWEN2_5_VL
FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)


class UnknownFamily(ValueError):
    """A checkpoint or model name of no supported family; the message names the supported ones."""


def supported() -> str:
    return ", ".join(f"{f.title} ({f.name})" for f in FAMILIES)


def by_name(name: str) -> ModelFamily:
    wanted = name.strip().lower()
    for family in FAMILIES:
        if wanted in (family.name, family.title.lower()):
            return family
    raise UnknownFamily(f"unknown model family {name!r}; the supported families are {supported()}")


def from_config(config: dict) -> ModelFamily:
    """The family of a checkpoint's config.json contents (model_type first, then architectures)."""
    model_type = str(config.get("model_type") or "")
    architectures = [str(a) for a in config.get("architectures") or []]
    for family in FAMILIES:
        if model_type in family.model_types or any(a in family.architectures for a in architectures):
            return family
    shown = model_type or ", ".join(architectures) or "no model_type"
    raise UnknownFamily(f"the checkpoint is a {shown} model, which this backend does not speak; "
                        f"the supported families are {supported()}")


def for_checkpoint(folder: str | Path) -> ModelFamily:
    """The family of the checkpoint in `folder` (its config.json)."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UnknownFamily(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise UnknownFamily(f"{path} is not a JSON object")
    return from_config(config)


def for_model_name(model: str) -> ModelFamily | None:
    """The family a served model's name says (e.g. "Qwen/Qwen3-VL-8B-Instruct"), None when it says none."""
    lowered = model.lower()
    matches = [f for f in FAMILIES if re.search(f.name_pattern, lowered)]
    return matches[0] if len(matches) == 1 else None


def for_remote(model: str, named: str | None = None) -> tuple[ModelFamily, str]:
    """A server's family and, when it had to be assumed, a note saying so: as named (--family),
    else from its model name, else Qwen2.5-VL (whose box reading also recognises 0-1000 answers
    by their numbers), which the note tells the analyst to confirm with --family."""
    if named:
        return by_name(named), ""
    family = for_model_name(model)
    if family is None:
        return DEFAULT_FAMILY, (f"the served model's family cannot be read from its name {model!r}: read as "
                                f"{DEFAULT_FAMILY.title} (boxes in pixels of its input, or 0-1000 where the numbers "
                                f"say so); pass --family ({', '.join(FAMILY_NAMES)}) to be sure")
    return family, ""
