"""Tiny random checkpoints of every supported family, for tests and the benchmark.

Each recipe is the family's real config shrunk (2 layers, hidden size 64) with
the structure kept: Qwen3-VL's 16 px patches, deepstack layer and interleaved
multimodal rotary sections; Qwen3.5's mix of linear-attention and full-attention
layers and its partial rotary dimension; the mixture-of-experts variants' routed
experts (4, two per token; Qwen3.5-MoE's shared expert too) in place of the
dense MLP.  The processor is the family's own (Qwen3VLProcessor around the
Qwen2-VL image processor with 16 px patches, the 0.5 mean/std and the 256x256 ..
4096x4096 pixel bounds of the published preprocessor_config.json).  Qwen3.5's
chat template opens a thinking block unless told `enable_thinking=False`, as the
published template does.  The model and config classes are the registry's
(families.py); the build and save steps are tests/tiny_qwen.py's, shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_qwen import (CHAT_TEMPLATE, TINY_TEXT, TINY_VISION, build_processor, build_tokenizer,
                             cached_checkpoint, checkpoint_config, save_checkpoint)

THINK_TOKENS = ("<think>", "</think>")

# Qwen3.5's template: the generation prompt opens <think> unless thinking is switched off.
QWEN3_5_TEMPLATE = CHAT_TEMPLATE.replace(
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}")

QWEN3_VL_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 4096,
                 "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 3, 3],
                                     "mrope_interleaved": True}}
QWEN3_VL_VISION = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 64,
                   "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                   "num_position_embeddings": 2304, "deepstack_visual_indexes": [0]}

QWEN3_5_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 4096,
                "layer_types": ["linear_attention", "full_attention"], "linear_conv_kernel_dim": 4,
                "linear_key_head_dim": 16, "linear_value_head_dim": 16, "linear_num_key_heads": 2,
                "linear_num_value_heads": 4,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000000.0, "mrope_section": [2, 1, 1],
                                    "mrope_interleaved": True, "partial_rotary_factor": 0.25}}
QWEN3_5_VISION = {k: v for k, v in QWEN3_VL_VISION.items() if k != "deepstack_visual_indexes"}

# Routed experts in place of the dense MLP: 4 experts of 32, two per token (the real ones: 128 or 256, 8 per token).
_EXPERTS = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}
QWEN3_VL_MOE_TEXT = {**QWEN3_VL_TEXT, **_EXPERTS, "decoder_sparse_step": 1, "mlp_only_layers": []}
# The shared expert is a plain MLP that bitsandbytes quantizes: its down projection's input is a whole
# 4-bit block (64), as in every real checkpoint, because bitsandbytes' CPU kernel packs each weight
# row as in_features // 64 blocks (a 32-wide input leaves none, on CPUs with AVX512-BF16).
QWEN3_5_MOE_TEXT = {**{k: v for k, v in QWEN3_5_TEXT.items() if k != "intermediate_size"}, **_EXPERTS,
                    "shared_expert_intermediate_size": 64}

RECIPES: dict[str, dict[str, Any]] = {
    "qwen2.5-vl": {"text": TINY_TEXT, "vision": TINY_VISION, "template": CHAT_TEMPLATE},
    "qwen3-vl": {"text": QWEN3_VL_TEXT, "vision": QWEN3_VL_VISION, "template": CHAT_TEMPLATE},
    "qwen3-vl-moe": {"text": QWEN3_VL_MOE_TEXT, "vision": QWEN3_VL_VISION, "template": CHAT_TEMPLATE},
    "qwen3.5": {"text": QWEN3_5_TEXT, "vision": QWEN3_5_VISION, "template": QWEN3_5_TEMPLATE},
    "qwen3.5-moe": {"text": QWEN3_5_MOE_TEXT, "vision": QWEN3_5_VISION, "template": QWEN3_5_TEMPLATE},
}


def _classes(family: str):
    """The family's model class as the registry names it, and its config class."""
    import transformers

    from models.vlm.families import by_name

    model_class = getattr(transformers, by_name(family).model_class)
    return model_class.config_class, model_class


def build_qwen3_processor(tokenizer, template: str):
    """Qwen3-VL's (and Qwen3.5's) processor around `tokenizer`, with the published image settings."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 256 * 256, "longest_edge": 4096 * 4096},
                                            patch_size=16, merge_size=2, temporal_patch_size=2,
                                            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                            video_processor=Qwen3VLVideoProcessor(patch_size=16), chat_template=template)


def save_family_checkpoint(folder: Path, family: str, text: dict[str, Any], vision: dict[str, Any], *,
                           seed: int = 0, dtype: str = "float32", tokenizer=None,
                           tie_word_embeddings: bool = False) -> Path:
    """Write a randomly initialised model of `family` with its processor to `folder`."""
    template = RECIPES[family]["template"]
    if family == "qwen2.5-vl":   # its processor and a tokenizer without the thinking tokens
        tokenizer = tokenizer or build_tokenizer()
        processor = build_processor(tokenizer)
    else:
        tokenizer = tokenizer or build_tokenizer(chat_template=template, extra_tokens=THINK_TOKENS)
        processor = build_qwen3_processor(tokenizer, template)
    config_class, model_class = _classes(family)
    config = checkpoint_config(config_class, tokenizer, text, vision, tie_word_embeddings)
    return save_checkpoint(folder, model_class, config, processor, seed=seed, dtype=dtype)


def tiny_family_checkpoint(cache_root: Path, family: str) -> Path:
    """The tiny checkpoint of `family`, built once per cache folder."""
    recipe = RECIPES[family]
    return cached_checkpoint(cache_root, family, {"family": family, **recipe},
                             lambda folder: save_family_checkpoint(folder, family, recipe["text"], recipe["vision"]))


__all__ = ["RECIPES", "build_processor", "build_qwen3_processor", "save_family_checkpoint", "tiny_family_checkpoint"]
