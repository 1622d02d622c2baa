"""Tiny random checkpoints of every supported family, for tests and the benchmark.

Each recipe is the family's real config shrunk (2 layers, hidden size 64) with
the structure kept: Qwen3-VL's 16 px patches, deepstack layer and interleaved
multimodal rotary sections; Qwen3.5's mix of linear-attention and full-attention
layers and its partial rotary dimension.  The processor is the family's own
(Qwen3VLProcessor around the Qwen2-VL image processor with 16 px patches, the
0.5 mean/std and the 256x256 .. 4096x4096 pixel bounds of the published
preprocessor_config.json).  Qwen3.5's chat template opens a thinking block
unless told `enable_thinking=False`, as the published template does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.tiny_qwen import (_TRAINING_TEXT, CHAT_TEMPLATE, TINY_TEXT, TINY_VISION, build_processor, build_tokenizer,
                             save_random_checkpoint)

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

RECIPES: dict[str, dict[str, Any]] = {
    "qwen2.5-vl": {"text": TINY_TEXT, "vision": TINY_VISION, "template": CHAT_TEMPLATE},
    "qwen3-vl": {"text": QWEN3_VL_TEXT, "vision": QWEN3_VL_VISION, "template": CHAT_TEMPLATE},
    "qwen3.5": {"text": QWEN3_5_TEXT, "vision": QWEN3_5_VISION, "template": QWEN3_5_TEMPLATE},
}


def _classes(family: str):
    import transformers

    config, model = {"qwen3-vl": ("Qwen3VLConfig", "Qwen3VLForConditionalGeneration"),
                     "qwen3.5": ("Qwen3_5Config", "Qwen3_5ForConditionalGeneration")}[family]
    return getattr(transformers, config), getattr(transformers, model)


def build_qwen3_processor(tokenizer, template: str):
    """Qwen3-VL's (and Qwen3.5's) processor around `tokenizer`, with the published image settings."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 256 * 256, "longest_edge": 4096 * 4096},
                                            patch_size=16, merge_size=2, temporal_patch_size=2,
                                            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                            video_processor=Qwen3VLVideoProcessor(patch_size=16), chat_template=template)


def family_config(family: str, tokenizer, text: dict[str, Any], vision: dict[str, Any],
                  tie_word_embeddings: bool = False):
    config_class, _ = _classes(family)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    text_config = {**text, "vocab_size": text.get("vocab_size", len(tokenizer)), "bos_token_id": tokenizer.pad_token_id,
                   "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    config = config_class(text_config=text_config, vision_config=dict(vision),
                          tie_word_embeddings=tie_word_embeddings, **ids)
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    return config


def save_family_checkpoint(folder: Path, family: str, text: dict[str, Any], vision: dict[str, Any], *,
                           seed: int = 0, dtype: str = "float32", tokenizer=None,
                           tie_word_embeddings: bool = False) -> Path:
    """Write a randomly initialised model of `family` with its processor to `folder`."""
    if family == "qwen2.5-vl":
        return save_random_checkpoint(folder, text, vision, seed=seed, dtype=dtype, tokenizer=tokenizer,
                                      tie_word_embeddings=tie_word_embeddings)
    import torch
    from transformers import GenerationConfig

    template = RECIPES[family]["template"]
    tokenizer = tokenizer or build_tokenizer(chat_template=template, extra_tokens=THINK_TOKENS)
    config = family_config(family, tokenizer, text, vision, tie_word_embeddings)
    _, model_class = _classes(family)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        model = model_class(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    build_qwen3_processor(tokenizer, template).save_pretrained(folder)
    del model
    return folder


def tiny_family_checkpoint(cache_root: Path, family: str) -> Path:
    """The tiny checkpoint of `family`, built once per cache folder."""
    recipe = RECIPES[family]
    key = json.dumps({"family": family, "text": recipe["text"], "vision": recipe["vision"],
                      "template": recipe["template"], "corpus": _TRAINING_TEXT, "v": 1}, sort_keys=True)
    folder = Path(cache_root) / f"tiny-{family}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    if not (folder / "config.json").exists():
        save_family_checkpoint(folder, family, recipe["text"], recipe["vision"])
    return folder


__all__ = ["RECIPES", "build_processor", "build_qwen3_processor", "save_family_checkpoint", "tiny_family_checkpoint"]
