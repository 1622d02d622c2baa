"""Builds Qwen2.5-VL, Qwen3-VL and Qwen3.5 checkpoints with random weights, so
tests and benchmarks exercise the real loading and generation code without
downloading anything (tests/tiny_families.py holds the newer families' recipes).

The tokenizer is a byte-level BPE trained on the spot by the `tokenizers`
library and carries Qwen's special tokens and chat template, so the processor
expands image placeholders exactly as it does for a published checkpoint.
The weights are noise: what the model writes is meaningless, and the tests
assert the pipeline's behaviour around it, never its content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)

# Qwen2.5-VL's chat template, reduced to what images and text need.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the tokenizer learns its merges from: the words the prompts and the
# answers use, so tokenization looks like a real model's (words, numbers, JSON).
_TRAINING_TEXT = """
You are a forensic image analyst. Find the regions of this image that show signs of AI generation or editing.
Answer with a JSON list: [{"bbox_2d": [x1, y1, x2, y2], "label": "hands", "reason": "six fingers"}].
<think>The texture is smooth and the lighting is inconsistent.</think> <verdict>generated</verdict> <verdict>real</verdict>
Region 1 at (12, 40), (300, 288) shows warped text. The shadows disagree with the light. The face looks natural.
real generated fake authentic artifact artefact noise blur edge hair eyes teeth fingers background reflection
0 1 2 3 4 5 6 7 8 9 10 28 56 112 224 448 1000 { } [ ] ( ) , : " < > / region finding verdict explanation
"""


def build_tokenizer(vocab_size: int = 600, corpus: list[str] | None = None, chat_template: str | None = None,
                    extra_tokens: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer with Qwen's special tokens and chat template,
    trained on `corpus` (default: a few lines of prompt-like text)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[*QWEN_SPECIAL_TOKENS, *extra_tokens],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus or [_TRAINING_TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in (*QWEN_SPECIAL_TOKENS, *extra_tokens)
                                   if t not in ("<|im_end|>", "<|endoftext|>")],
    )
    fast.chat_template = chat_template or CHAT_TEMPLATE
    return fast


def build_processor(tokenizer):
    """Qwen2.5-VL's processor around `tokenizer`, with the published image settings."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280},
                                            patch_size=14, merge_size=2, temporal_patch_size=2)
    return Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)


TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "max_position_embeddings": 4096,
             "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}
TINY_VISION = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 64,
               "fullatt_block_indexes": [1], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
               "temporal_patch_size": 2, "tokens_per_second": 2}


def special_token_ids(tokenizer) -> dict[str, int]:
    """The image and video token ids a Qwen config names, from `tokenizer`."""
    return {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}


def checkpoint_config(config_class, tokenizer, text: dict[str, Any], vision: dict[str, Any],
                      tie_word_embeddings: bool = False):
    """A config of `config_class` (any Qwen vision-language family) with `tokenizer`'s special token ids."""
    text_config = {**text, "vocab_size": text.get("vocab_size", len(tokenizer)), "bos_token_id": tokenizer.pad_token_id,
                   "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    config = config_class(text_config=text_config, vision_config=dict(vision),
                          tie_word_embeddings=tie_word_embeddings, **special_token_ids(tokenizer))
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    return config


def qwen_config(tokenizer, text: dict[str, Any], vision: dict[str, Any], tie_word_embeddings: bool = False):
    """A Qwen2.5-VL config with `tokenizer`'s special token ids."""
    from transformers import Qwen2_5_VLConfig

    return checkpoint_config(Qwen2_5_VLConfig, tokenizer, text, vision, tie_word_embeddings)


def save_checkpoint(folder: Path, model_class, config, processor, *, seed: int = 0, dtype: str = "float32") -> Path:
    """Write a randomly initialised `model_class(config)` with `processor` to `folder` (the one build
    step every family shares)."""
    import torch
    from transformers import GenerationConfig

    tokenizer = processor.tokenizer
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))  # allocate in the target dtype: halves peak memory for 3B/7B
    try:
        model = model_class(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    return folder


def save_random_checkpoint(folder: Path, text: dict[str, Any], vision: dict[str, Any], *, seed: int = 0,
                           dtype: str = "float32", tie_word_embeddings: bool = False, tokenizer=None) -> Path:
    """Write a randomly initialised Qwen2.5-VL with its processor to `folder`."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    tokenizer = tokenizer or build_tokenizer()
    config = qwen_config(tokenizer, text, vision, tie_word_embeddings)
    return save_checkpoint(folder, Qwen2_5_VLForConditionalGeneration, config, build_processor(tokenizer),
                           seed=seed, dtype=dtype)


def cached_checkpoint(cache_root: Path, name: str, recipe: dict[str, Any], build) -> Path:
    """The checkpoint `build(folder)` writes for `recipe`, built once per cache folder (named by the
    recipe's hash, so a changed recipe builds anew)."""
    key = json.dumps({**recipe, "corpus": _TRAINING_TEXT, "v": 1}, sort_keys=True, default=str)
    folder = Path(cache_root) / f"tiny-{name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    if not (folder / "config.json").exists():
        build(folder)
    return folder


def tiny_checkpoint(cache_root: Path) -> Path:
    """The tiny test checkpoint (2 layers, hidden size 64), built once per cache folder."""
    return cached_checkpoint(cache_root, "qwen2.5-vl", {"text": TINY_TEXT, "vision": TINY_VISION},
                             lambda folder: save_random_checkpoint(folder, TINY_TEXT, TINY_VISION))
