"""The shared prefix of the two queries, kept per image so the second query
does not pay for it again (the local transport's cache of caches).

Both queries start with the same system text, full image and context
(prompts.py).  How a family continues from that prefix is its registry entry's
`prefix_reuse` (families.py):

  crop      after each query its cache is kept; the next query about the image
            takes a copy cut back to the tokens the two share.  Exact for
            attention keys and values (Qwen2.5-VL, Qwen3-VL).
  snapshot  a query that finds nothing kept copies the cache at the prefix end
            while its own prompt is prefilled (prefix_snapshot.py); the next
            query continues from a copy.  Needed where a layer keeps a recurrent
            state (Qwen3.5's gated delta-net layers and their convolution window),
            which holds the whole past and cannot be cut back to an earlier token.

Either way a reused prefix never ends inside an image, and the multimodal
rotary positions of the tokens before a point depend only on those tokens,
so continuing from it is exact (tests compare against full recomputation).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import torch

from models.vlm.families import ModelFamily

KEPT_PREFIXES = 2


class PrefixStore:
    """Kept prefixes: prefix_key -> (their token ids, their cache), the last KEPT_PREFIXES images."""

    def __init__(self, family: ModelFamily, vision_start_id: int, vision_end_id: int):
        self.family = family
        self.vision_start_id = vision_start_id
        self.vision_end_id = vision_end_id
        self._kept: OrderedDict[str, tuple[torch.Tensor, Any]] = OrderedDict()

    @property
    def snapshots(self) -> bool:
        return self.family.prefix_reuse == "snapshot"

    def reusable(self, key: str | None, input_ids: torch.Tensor) -> tuple[int, Any]:
        """(tokens reused, a private copy of their cache) for this query; (0, None) when nothing fits."""
        if key is None or key not in self._kept:
            return 0, None
        kept_ids, kept_cache = self._kept[key]
        self._kept.move_to_end(key)
        length = min(kept_ids.shape[1], input_ids.shape[1] - 1)  # at least one token must be new
        differs = (kept_ids[0, :length] != input_ids[0, :length].to(kept_ids.device)).nonzero()
        shared = self.before_partial_image(input_ids, int(differs[0]) if len(differs) else length)
        if shared <= 0 or (self.snapshots and shared != kept_ids.shape[1]):
            return 0, None  # a snapshot is all or nothing: its recurrent state holds every one of its tokens
        cache = copy.deepcopy(kept_cache)
        if cache.get_seq_length() > shared:
            cache.crop(shared - cache.get_seq_length())
        return shared, cache

    def before_partial_image(self, input_ids: torch.Tensor, shared: int) -> int:
        """Never split an image: end the reused part before an image it would cut."""
        ids = input_ids[0].tolist()
        for start in (i for i, t in enumerate(ids[:shared]) if t == self.vision_start_id):
            end = ids.index(self.vision_end_id, start) if self.vision_end_id in ids[start:] else len(ids)
            if end >= shared:
                return start
        return shared

    def keep_after(self, key: str | None, input_ids: torch.Tensor, cache: Any, prompt_length: int) -> None:
        """After a query (crop families): its cache, cut back to its prompt, for the next query."""
        if key is None or cache is None or self.snapshots:
            return
        if cache.get_seq_length() > prompt_length:
            cache.crop(prompt_length - cache.get_seq_length())
        self._keep(key, input_ids.detach(), compacted(cache))

    def keep_snapshot(self, key: str, prefix_ids: torch.Tensor, snapshot: Any) -> None:
        """The cache as it stood at the end of the shared prefix (snapshot families; SnapshotCapture)."""
        self._keep(key, prefix_ids.detach(), snapshot)

    def _keep(self, key: str, ids: torch.Tensor, cache: Any) -> None:
        self._kept[key] = (ids, cache)
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_PREFIXES:
            self._kept.popitem(last=False)


def compacted(cache: Any) -> Any:
    """`cache` with each attention layer's keys and values in storage of their own: a crop only
    slices, so a kept cache held the whole generation's storage (its answer and, for a snapshot,
    the rest of the prompt), and every deep copy of it copied all of that again."""
    for layer in getattr(cache, "layers", ()):
        if isinstance(getattr(layer, "keys", None), torch.Tensor):
            layer.keys, layer.values = layer.keys.clone(), layer.values.clone()
    return cache


def shared_prefix_length(processor: Any, text: str, prefix_text: str, input_ids: torch.Tensor,
                         image_grid: torch.Tensor | None) -> int:
    """How many of `input_ids` (the tokens of `text`) are the tokens of `prefix_text`, the rendering of
    the shared parts alone: the common characters tokenized with the images expanded as the processor
    expands them, then compared token by token (a word cut at the boundary simply ends the match)."""
    common = 0
    for a, b in zip(text, prefix_text):
        if a != b:
            break
        common += 1
    head = text[:common]
    token = processor.image_token
    pieces = head.split(token)
    if len(pieces) > 1:
        if image_grid is None or len(pieces) - 1 > len(image_grid):
            return 0
        merge = processor.image_processor.merge_size ** 2
        head = pieces[0] + "".join(token * (int(image_grid[i].prod()) // merge) + piece
                                   for i, piece in enumerate(pieces[1:]))
    ids = processor.tokenizer(head, add_special_tokens=False)["input_ids"]
    full = input_ids[0].tolist()
    shared = 0
    for a, b in zip(ids, full):
        if a != b:
            break
        shared += 1
    return min(shared, len(full) - 1)
