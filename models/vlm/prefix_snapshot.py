"""A copy of the cache at the end of the shared prefix, taken inside the one
forward pass that prefills the whole prompt (snapshot families: Qwen3.5).

A recurrent layer's state (Qwen3.5's gated delta-net: a recurrent matrix and a
convolution window) holds every token before it and cannot be cut back, so the
state at the prefix end exists only while the prompt is being read.  Inside
`SnapshotCapture`, the first call of each recurrent mixer on a prompt longer
than the prefix runs its own forward twice: on the prefix, then on the rest,
continuing from the state the first call left in the cache (what a generation
continuing from a snapshot does); the layer's cache is copied between the two.
Its projections of the layer's input are computed once for every token and
handed to both calls, and its projection out is applied once to both calls'
outputs, so each weight is still read once: on CPU, 4-bit weights are
dequantized anew on every pass (Qwen3.5-4B nf4: about 15 s of a 75 s prefill),
which is what prefilling the prefix as a forward pass of its own cost.  The
attention layers run on the whole prompt; `snapshot()` cuts their copies back.
The tests compare the snapshot with a forward pass over the prefix alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from models.vlm.families import RecurrentMixer
from models.vlm.prefix_cache import compacted


class _Given(torch.nn.Module):
    """Stands in for a projection for one call: returns its output, computed beforehand."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output

    def forward(self, _: torch.Tensor) -> torch.Tensor:
        return self.output


@contextmanager
def _replaced(module: torch.nn.Module, replacements: dict[str, torch.nn.Module]) -> Iterator[None]:
    originals = {name: module._modules[name] for name in replacements}
    module._modules.update(replacements)
    try:
        yield
    finally:
        module._modules.update(originals)


class SnapshotCapture:
    """Copies the cache at token `length` while a prompt is prefilled in one forward pass."""

    def __init__(self, model: torch.nn.Module, mixer: RecurrentMixer, length: int):
        self.length = length
        self.wiring = mixer
        self.mixers = [m for name, m in model.named_modules()
                       if name.rsplit(".", 1)[-1] == mixer.attribute and hasattr(m, "layer_idx")]
        self.captured: dict[int, Any] = {}
        self._replaced: list[tuple[torch.nn.Module, Any]] = []

    def __enter__(self) -> "SnapshotCapture":
        for mixer in self.mixers:
            self._replaced.append((mixer, mixer.__dict__.get("forward")))
            mixer.forward = self._split(mixer, mixer.forward)
        return self

    def __exit__(self, *_: object) -> None:
        for mixer, previous in self._replaced:
            if previous is None:
                del mixer.forward
            else:
                mixer.forward = previous
        self._replaced.clear()

    def _split(self, mixer: torch.nn.Module, forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        index, length, wiring = int(mixer.layer_idx), self.length, self.wiring

        def split_forward(hidden_states: torch.Tensor, *args: Any, cache: Any = None,
                          attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
            if index in self.captured or cache is None or args or hidden_states.shape[1] <= length:
                return forward(hidden_states, *args, cache=cache, attention_mask=attention_mask, **kwargs)
            projected = {name: mixer._modules[name](hidden_states) for name in wiring.input_projections}
            pieces = []
            for part in (slice(None, length), slice(length, None)):
                given = {name: _Given(output[:, part]) for name, output in projected.items()}
                given[wiring.output_projection] = torch.nn.Identity()
                with _replaced(mixer, given):
                    pieces.append(forward(hidden_states[:, part], cache=cache, **kwargs,
                                          attention_mask=attention_mask[:, part] if attention_mask is not None
                                          else None))
                if part.stop == length:
                    self.captured[index] = copy.deepcopy(cache.layers[index])
            return mixer._modules[wiring.output_projection](torch.cat(pieces, dim=1))

        return split_forward

    def snapshot(self, cache: Any) -> Any:
        """A copy of `cache` as it stood after token `length`; None where some layer's state was not
        captured (a recurrent layer the family's entry does not name, or no forward reached it)."""
        if cache is None or not self.captured:
            return None
        snapshot = copy.copy(cache)
        snapshot.layers = []
        for index, layer in enumerate(cache.layers):
            if index in self.captured:
                snapshot.layers.append(self.captured[index])
                continue
            if not hasattr(layer, "keys") or hasattr(layer, "recurrent_states"):
                return None
            kept = copy.copy(layer)  # its own keys and values once compacted below; the live cache is untouched
            if kept.get_seq_length() > self.length:
                kept.crop(self.length - kept.get_seq_length())
            snapshot.layers.append(kept)
        return compacted(snapshot)
