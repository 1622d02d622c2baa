"""The kept-prefix rules without a model: what a crop family and a snapshot family
may reuse when the next query shares all, part or none of what is kept.  (The
exactness of reuse is tested on tiny models in test_vlm_families_models.py.)"""

from __future__ import annotations

import torch

from models.vlm.families import QWEN3_5, QWEN3_VL
from models.vlm.prefix_cache import KEPT_PREFIXES, PrefixStore

START, END, PAD = 90, 91, 92


class FakeCache:
    """Records its length and the crops applied to it, as a transformers cache would."""

    def __init__(self, length: int):
        self.length = length

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, change: int) -> None:
        assert change < 0
        self.length += change


def ids(*tokens: int) -> torch.Tensor:
    return torch.tensor([tokens])


PROMPT = (1, 2, START, PAD, PAD, END, 3, 4, 5)   # text, an image, text


def test_a_crop_family_reuses_the_shared_tokens_of_what_it_kept():
    store = PrefixStore(QWEN3_VL, START, END)
    store.keep_after("img", ids(*PROMPT), FakeCache(len(PROMPT) + 4), len(PROMPT))  # generated tokens cut off
    shared, cache = store.reusable("img", ids(*PROMPT[:7], 8, 9))
    assert shared == 7 and cache.get_seq_length() == 7
    assert store._kept["img"][1].get_seq_length() == len(PROMPT)   # the kept one is untouched: a copy was cut


def test_reuse_never_ends_inside_an_image():
    store = PrefixStore(QWEN3_VL, START, END)
    store.keep_after("img", ids(*PROMPT), FakeCache(len(PROMPT)), len(PROMPT))
    shared, cache = store.reusable("img", ids(1, 2, START, PAD, 7, 7, 7))
    assert shared == 2 and cache.get_seq_length() == 2


def test_a_snapshot_is_used_whole_or_not_at_all():
    store = PrefixStore(QWEN3_5, START, END)
    store.keep_after("img", ids(*PROMPT), FakeCache(len(PROMPT)), len(PROMPT))
    assert store.reusable("img", ids(*PROMPT, 6)) == (0, None)     # a snapshot family keeps no query's cache
    store.keep_snapshot("img", ids(*PROMPT[:6]), FakeCache(6))
    shared, cache = store.reusable("img", ids(*PROMPT[:6], 7, 8))
    assert shared == 6 and cache is not store._kept["img"][1]      # a fresh copy each time
    assert store.reusable("img", ids(*PROMPT[:5], 9, 9, 9)) == (0, None)   # shares less: cannot be cut back
    assert store.reusable("other", ids(*PROMPT)) == (0, None)


def test_only_the_last_images_are_kept():
    store = PrefixStore(QWEN3_5, START, END)
    for n in range(KEPT_PREFIXES + 1):
        store.keep_snapshot(f"img{n}", ids(*PROMPT[:6]), FakeCache(6))
    assert store.reusable("img0", ids(*PROMPT)) == (0, None)
    assert store.reusable(f"img{KEPT_PREFIXES}", ids(*PROMPT))[0] == 6


def test_a_snapshot_family_must_name_the_layers_its_snapshot_copies():
    import dataclasses

    import pytest

    with pytest.raises(ValueError, match="recurrent_mixer"):
        dataclasses.replace(QWEN3_5, recurrent_mixer=None)


def test_a_kept_cache_holds_only_its_own_tokens():
    """A crop only slices: without a copy the kept keys would still hold the whole generation."""
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.update(torch.ones(1, 2, 12, 4), torch.ones(1, 2, 12, 4), 0)  # 9 prompt tokens + 3 generated
    store = PrefixStore(QWEN3_VL, START, END)
    store.keep_after("img", ids(*PROMPT), cache, len(PROMPT))
    shared, reused = store.reusable("img", ids(*PROMPT, 6))
    kept = store._kept["img"][1].layers[0].keys
    assert shared == len(PROMPT) and kept.shape[-2] == len(PROMPT)
    assert kept.untyped_storage().nbytes() == kept.numel() * kept.element_size()
    assert reused.layers[0].keys.untyped_storage().nbytes() == kept.numel() * kept.element_size()
