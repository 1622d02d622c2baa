"""The local transport: transformers generation on this machine, with the
shared prefix of the two queries computed once.

Both queries start with the same system text, full image and context (see
prompts.py).  What one query computed for that prefix is kept per image
(prefix_cache.py, in the way the family's entry declares: a cache cut back to
the shared tokens, or a snapshot taken at the prefix end); the next query
about that image continues from it (the full image's vision features
included: those tokens are not encoded again), and only the new images (the
zoomed crops, all in one batch) go through the vision encoder.  Tests compare
each family's reused prefix against a full recomputation.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import torch

from models.vlm.conversation import Generation, GenerationRequest, ImagePart, TokenStep, TransportError, Turn
from models.vlm.loading import LoadedModel
from models.vlm.prefix_cache import PrefixStore, shared_prefix_length
from models.vlm.prefix_snapshot import SnapshotCapture

_END_TOKENS = ("<|im_end|>", "<|endoftext|>")


class LocalTransport:
    def __init__(self, loaded: LoadedModel, max_image_pixels: int):
        self.loaded = loaded
        self.family = loaded.family
        self.max_image_pixels = max_image_pixels
        config = loaded.model.config
        self._prefixes = PrefixStore(self.family, config.vision_start_token_id, config.vision_end_token_id)

    def describe(self) -> dict:
        return self.loaded.describe()

    # ------------------------------------------------------------------ one query

    def generate(self, request: GenerationRequest) -> Generation:
        cpu_start = time.process_time()  # the whole query: templating and image preprocessing included
        processor, model = self.loaded.processor, self.loaded.model
        images = request.images
        text = processor.apply_chat_template(chat_messages(request), tokenize=False, add_generation_prompt=True,
                                             **self.family.template_options())
        size = {"shortest_edge": processor.image_processor.size["shortest_edge"],
                "longest_edge": max(self.max_image_pixels, processor.image_processor.size["shortest_edge"])}
        inputs = processor(text=[text], images=images or None, return_tensors="pt", size=size).to(model.device)
        with self.loaded.lock, torch.inference_mode(), _StageClock(model) as clock:
            try:
                generation = self._generate(request, text, inputs, clock)
            except (torch.OutOfMemoryError, MemoryError) as exc:
                raise TransportError(f"out of memory while generating ({exc}); lower --max-new-tokens, the "
                                     "image size or the number of regions, or use --quant 4bit") from None
        grid = inputs.get("image_grid_thw")
        patch = processor.image_processor.patch_size
        generation.input_image_sizes = [(int(w) * patch, int(h) * patch) for _, h, w in grid.tolist()] \
            if grid is not None else []
        generation.timings.update(clock.timings())
        generation.timings["cpu"] = time.process_time() - cpu_start
        return generation

    def _generate(self, request: GenerationRequest, text: str, inputs: Any, clock: "_StageClock") -> Generation:
        model = self.loaded.model
        input_ids = inputs["input_ids"]
        reused, cache = self._prefixes.reusable(request.prefix_key, input_ids)
        capture = self._snapshot_capture(request, text, inputs) if not reused else nullcontext()
        arguments = dict(inputs)
        if reused:
            arguments.pop("pixel_values", None)
            new_images = self._encode_new_images(inputs, reused, clock)
            if new_images is not None:
                arguments["mm_encoder_outputs"] = {"image": new_images}
            arguments["cache"] = cache  # `past_key_values=` is deprecated (transformers 6 drops it)
        # Positions for the whole sequence, so continuing from a cache never
        # relies on offsets a previous call left on the model.
        if inputs.get("image_grid_thw") is not None:
            _, model.model.rope_deltas = model.model.get_rope_index(
                input_ids, mm_token_type_ids=inputs["mm_token_type_ids"], image_grid_thw=inputs["image_grid_thw"],
                attention_mask=inputs.get("attention_mask"))
        with capture:
            output = model.generate(**arguments, max_new_tokens=request.max_new_tokens,
                                    min_new_tokens=request.min_new_tokens, do_sample=False, temperature=None,
                                    top_p=None, top_k=None, return_dict_in_generate=True,
                                    output_logits=bool(request.verdict_words))
        prompt_length = input_ids.shape[1]
        if isinstance(capture, SnapshotCapture):
            snapshot = capture.snapshot(output.cache)
            if snapshot is not None:
                self._prefixes.keep_snapshot(request.prefix_key, input_ids[:, :capture.length], snapshot)
        self._prefixes.keep_after(request.prefix_key, input_ids, output.cache, prompt_length)
        new_ids = output.sequences[0, prompt_length:].tolist()
        new_ids = _without_end(new_ids, self._end_ids())
        answer = self.loaded.processor.tokenizer.decode(new_ids, skip_special_tokens=False)
        tokens = self._token_steps(new_ids, output.logits, request.verdict_words) if request.verdict_words else None
        return Generation(text=answer, tokens=tokens, prompt_tokens=prompt_length, reused_prefix_tokens=reused,
                          generated_tokens=len(new_ids))

    # ------------------------------------------------------------------ prefix reuse

    def _snapshot_capture(self, request: GenerationRequest, text: str, inputs: Any) -> Any:
        """Where the family keeps a snapshot and this query has shared parts: a SnapshotCapture at the end of
        the shared prefix, for the prefill of this query's own prompt; otherwise a context that does nothing."""
        if not self._prefixes.snapshots or request.prefix_key is None or request.shared_parts is None:
            return nullcontext()
        last = request.turns[-1]
        shared = replace(request, turns=(*request.turns[:-1], Turn(last.role, last.parts[:request.shared_parts])))
        prefix_text = self.loaded.processor.apply_chat_template(
            chat_messages(shared), tokenize=False, add_generation_prompt=False, **self.family.template_options())
        input_ids, grid = inputs["input_ids"], inputs.get("image_grid_thw")
        length = self._prefixes.before_partial_image(
            input_ids, shared_prefix_length(self.loaded.processor, text, prefix_text, input_ids, grid))
        if length <= 0 or self.family.recurrent_mixer is None:
            return nullcontext()
        return SnapshotCapture(self.loaded.model, self.family.recurrent_mixer, length)

    def _encode_new_images(self, inputs: Any, reused: int, clock: "_StageClock") -> Any:
        """Vision features of the images after the reused prefix, in one batch."""
        grid = inputs.get("image_grid_thw")
        if grid is None:
            return None
        config = self.loaded.model.config
        starts = (inputs["input_ids"][0] == config.vision_start_token_id).nonzero().flatten().tolist()
        first_new = sum(1 for position in starts if position < reused)
        if first_new >= len(starts):
            return None
        patches = grid.prod(-1)
        offset = int(patches[:first_new].sum())
        return self.loaded.model.model.get_image_features(inputs["pixel_values"][offset:], grid[first_new:],
                                                          return_dict=True)

    # ------------------------------------------------------------------ verdict probabilities

    def _end_ids(self) -> set[int]:
        tokenizer = self.loaded.processor.tokenizer
        return {i for i in tokenizer.convert_tokens_to_ids(list(_END_TOKENS)) if i is not None}

    def _token_steps(self, new_ids: list[int], logits: tuple[torch.Tensor, ...], words: tuple[str, ...]
                     ) -> list[TokenStep]:
        """Per generated token: where it starts in the text, and the log
        probability of each verdict word's first token at that step."""
        tokenizer = self.loaded.processor.tokenizer
        first_tokens: dict[str, list[int]] = {}
        for word in words:
            spellings = {tokenizer.encode(variant, add_special_tokens=False)[0] for variant in (word, f" {word}")}
            first_tokens[_meaning(word)] = sorted(spellings)
        steps, previous_length = [], 0
        for index in range(len(new_ids)):
            log_probs = torch.log_softmax(logits[index][0].float(), dim=-1)
            candidates = {meaning: float(torch.logsumexp(log_probs[ids], dim=0))
                          for meaning, ids in first_tokens.items()}
            steps.append(TokenStep(start=previous_length, candidates=candidates))
            previous_length = len(tokenizer.decode(new_ids[: index + 1], skip_special_tokens=False))
        return steps


def _meaning(word: str) -> str:
    return "ai-generated" if word in ("generated", "ai-generated") else word


def _without_end(ids: list[int], end_ids: set[int]) -> list[int]:
    while ids and ids[-1] in end_ids:
        ids = ids[:-1]
    return ids


def chat_messages(request: GenerationRequest) -> list[dict]:
    messages = []
    for turn in request.turns:
        content = [{"type": "image"} if isinstance(part, ImagePart) else {"type": "text", "text": part.text}
                   for part in turn.parts]
        messages.append({"role": turn.role, "content": content})
    return messages


class _StageClock:
    """Times the vision encoder, the prefill (the first forward) and the decode steps of
    one generate call with forward hooks, without touching the model.  The
    vision encoder may run inside a prefill forward or before it (transformers
    can pre-encode images), so intervals are compared.  Each stage is also
    given in process CPU time (all threads; `<stage>_cpu`): on a shared machine
    other processes' load stretches wall time but hardly the CPU time this
    process spends, so ratios of CPU times stay comparable across runs."""

    def __init__(self, model: Any):
        self.model = model
        self.cuda = next(model.parameters()).device.type == "cuda"
        self.forwards: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self.visions: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self._handles: list[Any] = []

    def _now(self) -> tuple[float, float]:
        """(wall, process CPU) seconds."""
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter(), time.process_time()

    def __enter__(self) -> "_StageClock":
        starts: dict[str, tuple[float, float]] = {}

        def started(name: str):
            return lambda *_: starts.__setitem__(name, self._now())

        def finished(name: str, intervals: list[tuple[tuple[float, float], tuple[float, float]]]):
            return lambda *_: intervals.append((starts[name], self._now()))

        self._handles = [
            self.model.register_forward_pre_hook(started("forward")),
            self.model.register_forward_hook(finished("forward", self.forwards)),
            self.model.model.visual.register_forward_pre_hook(started("vision")),
            self.model.model.visual.register_forward_hook(finished("vision", self.visions)),
        ]
        return self

    def __exit__(self, *_: object) -> None:
        for handle in self._handles:
            handle.remove()

    def timings(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        for clock, suffix in ((0, ""), (1, "_cpu")):
            visions = [(start[clock], end[clock]) for start, end in self.visions]
            forwards = [(start[clock], end[clock]) for start, end in self.forwards]
            prefills = forwards[:1]
            inside = sum(max(0.0, min(end, f_end) - max(start, f_start))
                         for f_start, f_end in prefills for start, end in visions)
            timings[f"vision{suffix}"] = sum(end - start for start, end in visions)
            timings[f"prefill{suffix}"] = sum(end - start for start, end in prefills) - inside
            timings[f"decode{suffix}"] = sum(end - start for start, end in forwards[1:])
        return timings
