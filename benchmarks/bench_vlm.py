"""Benchmark: what the two-stage vision-language protocol costs against one query.

Builds a randomly initialised model with a real architecture (published
configs; nothing is downloaded): Qwen2.5-VL 3B or 7B, Qwen3-VL 2B or 4B,
Qwen3.5 4B (`tiny`, `qwen3-vl-tiny`, `qwen3.5-tiny` for a smoke run), saves it,
and in a fresh child process per quantization loads it through the backend's
own loading function and reports:

* load time and peak memory (RSS of the process on CPU; torch's peak
  allocation on CUDA),
* per stage: vision encoder, prefill and decode time, for a fixed number of
  generated tokens (min = max, so random weights cannot stop early),
* the single-query pass (full image, one question) and the ratio of the
  two-stage total (scan + examine) to it, with the stage-1 prefix reused
  (what the backend does) and recomputed (what it would cost without reuse),
* all of it twice: wall time, and process CPU time (all threads), with torch's
  thread count fixed (--threads, default 2).  On a shared machine other
  processes stretch wall time by whatever they take; this process's CPU time
  they hardly change, so its ratios are the ones that compare across runs.

Goal: two-stage <= 1.5x a single query.

    .venv/bin/python benchmarks/bench_vlm.py --size 3b --device cpu --quant 4bit --quant none
    .venv/bin/python benchmarks/bench_vlm.py --size 7b --device cuda --quant 4bit --quant none --json out.json
    .venv/bin/python benchmarks/bench_vlm.py --size qwen3-vl-4b --image 896x896 --new-tokens 4 --quant 4bit

Needs only torch, transformers, bitsandbytes and this repository's own modules.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.heap import reuse_large_blocks  # noqa: E402

reuse_large_blocks()  # as the zoomin command and app.py do (ZOOMIN_MALLOC=default to measure without)

# Qwen/Qwen2.5-VL-3B-Instruct and -7B-Instruct config.json (text and vision parts).
ARCHITECTURES = {
    "3b": dict(text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000,
                         rms_norm_eps=1e-6, rope_theta=1000000.0,
                         rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                           fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2),
               tie_word_embeddings=True),
    "7b": dict(text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, max_position_embeddings=128000,
                         rms_norm_eps=1e-6, rope_theta=1000000.0,
                         rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2),
               tie_word_embeddings=False),
}

# Qwen/Qwen3-VL-2B-Instruct, Qwen3-VL-4B-Instruct and Qwen/Qwen3.5-4B config.json (text and vision parts),
# written from the model cards' values (no download here): 16 px patches, deepstack layers, interleaved
# multimodal rotary sections; Qwen3.5's three linear-attention layers per full-attention one.
_QWEN3_VISION = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16,
                     spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304,
                     hidden_act="gelu_pytorch_tanh")
_QWEN3_ROPE = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
               "mrope_interleaved": True}
FAMILY_ARCHITECTURES = {
    "qwen3-vl-2b": ("qwen3-vl", dict(
        text=dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                  num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, rope_parameters=_QWEN3_ROPE),
        vision=dict(_QWEN3_VISION, out_hidden_size=2048, deepstack_visual_indexes=[5, 11, 17]))),
    "qwen3-vl-4b": ("qwen3-vl", dict(
        text=dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, rope_parameters=_QWEN3_ROPE),
        vision=dict(_QWEN3_VISION, out_hidden_size=2560, deepstack_visual_indexes=[5, 11, 17]))),
    "qwen3.5-4b": ("qwen3.5", dict(
        text=dict(hidden_size=2560, intermediate_size=9216, num_hidden_layers=32, num_attention_heads=16,
                  num_key_value_heads=4, head_dim=256, vocab_size=248320, max_position_embeddings=262144,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, linear_conv_kernel_dim=4, linear_key_head_dim=128,
                  linear_value_head_dim=128, linear_num_key_heads=16, linear_num_value_heads=32,
                  layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"] * 8,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "mrope_section": [11, 11, 10],
                                   "mrope_interleaved": True, "partial_rotary_factor": 0.25}),
        vision=dict(_QWEN3_VISION, out_hidden_size=2560))),
    "qwen3-vl-tiny": ("qwen3-vl", None),
    "qwen3.5-tiny": ("qwen3.5", None),
}


def english_tokenizer(chat_template: str | None = None, extra_tokens: tuple[str, ...] = ()):
    """A byte-level BPE trained on this repository's English prose (docs, README,
    the prompts), so prompts cost about as many tokens as with Qwen's own
    tokenizer (about 4 characters per token) rather than a toy tokenizer's many."""
    import inspect

    from models.vlm import prompts
    from tests.tiny_qwen import build_tokenizer

    corpus = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))]
    corpus += [(ROOT / "README.md").read_text(encoding="utf-8"), inspect.getsource(prompts)]
    return build_tokenizer(vocab_size=8000, corpus=corpus, chat_template=chat_template, extra_tokens=extra_tokens)


def build(size: str, folder: Path) -> None:
    from tests.tiny_qwen import TINY_TEXT, TINY_VISION, save_random_checkpoint

    if size in FAMILY_ARCHITECTURES:
        from tests.tiny_families import RECIPES, THINK_TOKENS, save_family_checkpoint

        family, spec = FAMILY_ARCHITECTURES[size]
        recipe = RECIPES[family]
        tokenizer = english_tokenizer(recipe["template"], THINK_TOKENS)
        if spec is None:
            save_family_checkpoint(folder, family, recipe["text"], recipe["vision"], tokenizer=tokenizer)
        else:
            text = {k: v for k, v in spec["text"].items() if k != "tie_word_embeddings"}
            save_family_checkpoint(folder, family, text, spec["vision"], dtype="bfloat16", tokenizer=tokenizer,
                                   tie_word_embeddings=spec["text"].get("tie_word_embeddings", False))
        return
    tokenizer = english_tokenizer()
    if size == "tiny":
        save_random_checkpoint(folder, TINY_TEXT, TINY_VISION, tokenizer=tokenizer)
        return
    spec = ARCHITECTURES[size]
    save_random_checkpoint(folder, spec["text"], spec["vision"], dtype="bfloat16",
                           tie_word_embeddings=spec["tie_word_embeddings"], tokenizer=tokenizer)


def _peak_memory_gib(device: str) -> float:
    """The high-water mark (since _reset_peak, where that ran)."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _reset_peak(device: str) -> None:
    """Start a new high-water mark, so the next stage's own peak can be read (VmHWM on Linux 4.0+:
    writing 5 to clear_refs resets it; torch's peak statistics on CUDA)."""
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux: the stage peaks read as the process's peak so far


def _resident_gib(device: str) -> float:
    """Memory held now (loading peaks above it while weights are converted)."""
    if device == "cuda":
        import torch

        return torch.cuda.memory_allocated() / 2**30
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def measure(folder: Path, args: argparse.Namespace, quant: str) -> dict:
    """One configuration, in this (fresh) process."""
    import torch

    from models.image_input import load_image
    from models.sample_images import camera_like_photo, encode
    from models.vlm import prompts
    from models.vlm.conversation import GenerationRequest, TextPart, Turn
    from models.vlm.geometry import coarse_grid
    from models.vlm.loading import load_model
    from models.vlm.local import LocalTransport
    from models.vlm.protocol import VisionLanguageDetector
    from models.vlm.settings import LoadSettings, VLMSettings
    from models.types import Region

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)  # fixed, so CPU-time figures of different runs compare
    dtype = args.dtype if quant == "none" else "auto"
    loaded = load_model(LoadSettings(model=str(folder), quantization=quant, device=args.device, dtype=dtype))
    after_load = _peak_memory_gib(args.device)
    resident = _resident_gib(args.device)
    memory = {"size": args.size, "family": loaded.family.name, "device": args.device,
              "quantization": loaded.describe()["quantization"],
              "load_seconds": round(loaded.load_seconds, 2), "peak_memory_gib_during_load": round(after_load, 2),
              "resident_gib_after_load": round(resident, 2), "parameters": loaded.parameters,
              # safetensors are memory-mapped: an untouched unquantized model is not yet resident
              "weights_gib": round(loaded.model.get_memory_footprint() / 2**30, 2)}
    if args.load_only:
        return memory
    width, height = args.image
    settings = VLMSettings(max_image_pixels=max(width * height, loaded.family.min_pixels),
                           max_new_tokens=args.new_tokens,
                           min_new_tokens=args.new_tokens, max_regions=args.regions, zoom_size=args.zoom_size,
                           evidence_context=False)
    image = load_image(encode(camera_like_photo(height, width, seed=1), "PNG"), name="bench.png")
    regions = [Region(box=box, score=0.5, label="benchmark region", id=f"r{n}")
               for n, box in enumerate(coarse_grid(width, height, args.regions), 1)]

    def detector() -> VisionLanguageDetector:  # a fresh transport: nothing cached from an earlier run
        return VisionLanguageDetector("vlm", LocalTransport(loaded, settings.max_image_pixels), settings)

    # Warm-up: first-call costs (kernel selection, the allocator's first large
    # blocks) out of the timed runs; a few decode steps, as in the real ones.
    warm = detector()
    warm.settings = VLMSettings(max_new_tokens=3, min_new_tokens=3, max_regions=1, evidence_context=False,
                                max_image_pixels=settings.max_image_pixels, zoom_size=args.zoom_size)
    warm.examine(image, regions[:1])

    memory_by_stage: dict[str, dict[str, float]] = {}

    def held(stage: str) -> None:
        """This stage's own peak and what stays resident after it (the first run of each stage)."""
        memory_by_stage.setdefault(stage, {"peak_gib": round(_peak_memory_gib(args.device), 2),
                                           "resident_gib_after": round(_resident_gib(args.device), 2)})
        _reset_peak(args.device)

    _reset_peak(args.device)

    def single_query():
        single = detector()
        turns, _, _ = single._prefix(image, "")
        # no prefix key: one plain forward over the prompt, keeping nothing (a snapshot family would
        # otherwise prefill the prefix apart and copy its cache, which a single query does not need)
        request = GenerationRequest((turns[0], Turn("user", (*turns[1].parts,
                                                             TextPart(prompts.examine_request(0))))),
                                    "examine", args.new_tokens, args.new_tokens, None)
        start = time.perf_counter()
        generation = single.transport.generate(request)
        seconds = time.perf_counter() - start
        held("single")
        return seconds, generation.timings["cpu"], generation

    single_seconds, single_cpu, one = single_query()

    def two_stages():
        # CPU seconds are the local transport's, per query (as the wall seconds are): all threads of this process
        two = detector()
        two.scan(image)  # random weights name no region: the fallback's cost is not the model's and is left out
        held("scan")
        timings = two._scans[image.sha256].timings
        examined = two.examine(image, regions)
        held("examine")
        return timings, examined

    scan_timings, reused = two_stages()
    scan_seconds, scan_cpu = scan_timings["scan"], scan_timings["scan_cpu"]
    examine_cpu = reused.timings["examine_cpu"]
    two_stage = scan_seconds + reused.timings["examine"]
    recomputed = detector().examine(image, regions)  # the same stage 2 with no cached prefix
    held("examine_without_reuse")
    recomputed_cpu = recomputed.timings["examine_cpu"]
    again_seconds, again_cpu, again = single_query()  # twice, the faster counts: the machine is shared
    if again_seconds < single_seconds:
        single_seconds, one = again_seconds, again
    single_cpu = min(single_cpu, again_cpu)
    # --repeats: more (single, two-stage) pairs, alternated so both see the machine's drift alike;
    # medians of the pairs, the first pair being the one above (its second single query included)
    def pair(single: list[float], scan: dict, examined) -> dict:
        """[wall, CPU] seconds of a single query and of the two stages, and their ratios."""
        stages = {"scan": [scan["scan"], scan["scan_cpu"]],
                  "examine": [examined.timings["examine"], examined.timings["examine_cpu"]]}
        two = [stages["scan"][i] + stages["examine"][i] for i in (0, 1)]
        return {"single": single, **stages, "two_stage": two, "ratio": [round(two[i] / single[i], 3) for i in (0, 1)]}

    pairs = [pair([again_seconds, again_cpu], scan_timings, reused)]
    for _ in range(args.repeats - 1):
        seconds, cpu, _ = single_query()
        pairs.append(pair([seconds, cpu], *two_stages()))

    parts = ("vision", "prefill", "decode", "vision_cpu", "prefill_cpu", "decode_cpu")
    stage = lambda t, p: {k: round(t.get(f"{p}_{k}", 0.0), 3) for k in parts}  # noqa: E731
    return {
        **memory, "image": f"{width}x{height}", "regions": args.regions, "zoom_size": args.zoom_size,
        # the whole run's peak: the stages' marks were reset, the load's is kept apart
        "new_tokens": args.new_tokens, "peak_memory_gib": round(max(
            after_load, _peak_memory_gib(args.device), *(m["peak_gib"] for m in memory_by_stage.values())), 2),
        "memory_by_stage": memory_by_stage,
        "threads": torch.get_num_threads(), "load_average": [round(v, 2) for v in os.getloadavg()],
        "single": {"seconds": round(single_seconds, 3), "cpu_seconds": round(single_cpu, 3),
                   **{k: round(v, 3) for k, v in one.timings.items()}, "prompt_tokens": one.prompt_tokens},
        "scan": {"seconds": round(scan_seconds, 3), "cpu_seconds": round(scan_cpu, 3),
                 **stage(scan_timings, "scan")},
        "examine": {"seconds": round(reused.timings["examine"], 3), "cpu_seconds": round(examine_cpu, 3),
                    **stage(reused.timings, "examine"),
                    "prompt_tokens": reused.provenance["tokens"]["prompt"],
                    "reused_prefix_tokens": reused.provenance["tokens"]["reused_prefix"]},
        "examine_without_reuse": {"seconds": round(recomputed.timings["examine"], 3),
                                  "cpu_seconds": round(recomputed_cpu, 3), **stage(recomputed.timings, "examine")},
        "two_stage_seconds": round(two_stage, 3),
        "ratio_two_stage_to_single": round(two_stage / single_seconds, 3),
        "ratio_without_reuse": round((scan_seconds + recomputed.timings["examine"]) / single_seconds, 3),
        # the same ratios in process CPU time: what load from other processes hardly inflates
        "cpu_ratio_two_stage_to_single": round((scan_cpu + examine_cpu) / single_cpu, 3),
        "cpu_ratio_without_reuse": round((scan_cpu + recomputed_cpu) / single_cpu, 3),
        "pairs": pairs,
        "median_ratio": [round(statistics.median(p["ratio"][i] for p in pairs), 3) for i in (0, 1)],
        "software": loaded.describe()["software"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["tiny", "3b", "7b", *FAMILY_ARCHITECTURES], default="3b")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--quant", choices=["4bit", "8bit", "none"], action="append",
                        help="repeatable; default: 4bit and none")
    parser.add_argument("--dtype", default="bfloat16", help="unquantized weights' dtype (default bfloat16)")
    parser.add_argument("--image", default="448x448", help="WIDTHxHEIGHT of the synthetic photo (default 448x448)")
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--zoom-size", type=int, default=224)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=None, help="where the random checkpoint goes (kept if given)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads, fixed (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=1,
                        help="(single query, two-stage) pairs to time, alternated; the median of their ratios "
                             "is reported too (default 1)")
    parser.add_argument("--load-only", action="store_true", help="report load time and memory only")
    parser.add_argument("--_measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.image = tuple(int(v) for v in args.image.lower().split("x"))
    quants = args.quant or ["4bit", "none"]
    os.environ.setdefault("ZOOMIN_QUIET", "1")

    if args._measure is not None:  # child process: one configuration
        print(json.dumps(measure(args._measure, args, quants[0])))
        return

    folder = args.workdir or Path(tempfile.mkdtemp(prefix=f"bench-qwen-{args.size}-"))
    try:
        if not (folder / "config.json").exists():
            start = time.perf_counter()
            build(args.size, folder)
            print(f"built a random {args.size} checkpoint in {time.perf_counter() - start:.0f} s: {folder}",
                  file=sys.stderr)
        results = []
        for quant in quants:
            child = [sys.executable, __file__, "--_measure", str(folder), "--quant", quant,
                     *(a for a in sys.argv[1:] if a not in ("4bit", "8bit", "none", "--quant"))]
            done = subprocess.run(child, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{quant}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            _print(results[-1])
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)


def _print(result: dict) -> None:
    print(f"\n{result['size']} ({result.get('family', 'qwen2.5-vl')}) {result['quantization']} on "
          f"{result['device']}: load {result['load_seconds']} s, "
          f"weights {result['weights_gib']} GiB, {result['resident_gib_after_load']} GiB resident after load "
          f"(peak while loading {result['peak_memory_gib_during_load']} GiB)")
    if "single" not in result:
        return
    print(f"  image {result['image']}, {result['regions']} regions at {result['zoom_size']} px, "
          f"{result['new_tokens']} new tokens per query; peak memory {result['peak_memory_gib']} GiB")
    print(f"  {result['threads']} torch threads, load average {result['load_average']}; wall / CPU seconds")
    print(f"  {'query':24s} {'total':>13s} {'vision':>13s} {'prefill':>13s} {'decode':>13s}")
    for name in ("single", "scan", "examine", "examine_without_reuse"):
        row = result[name]
        cells = [f"{row.get(k, 0):6.2f}/{row.get(c, 0):<6.2f}" for k, c in
                 (("seconds", "cpu_seconds"), ("vision", "vision_cpu"), ("prefill", "prefill_cpu"),
                  ("decode", "decode_cpu"))]
        print(f"  {name:24s} " + " ".join(cells))
    print("  memory per stage (its own peak / resident after), GiB: " + "; ".join(
        f"{name} {row['peak_gib']} / {row['resident_gib_after']}" for name, row in result["memory_by_stage"].items()))
    print(f"  two-stage / single: {result['ratio_two_stage_to_single']:.2f}x with the prefix reused "
          f"({result['examine']['reused_prefix_tokens']} of {result['examine']['prompt_tokens']} stage-2 tokens), "
          f"{result['ratio_without_reuse']:.2f}x recomputed (wall); in CPU time "
          f"{result['cpu_ratio_two_stage_to_single']:.2f}x and {result['cpu_ratio_without_reuse']:.2f}x")
    if len(result.get("pairs", ())) > 1:
        ratios = ", ".join(f"{p['ratio'][0]:.2f}/{p['ratio'][1]:.2f}" for p in result["pairs"])
        print(f"  {len(result['pairs'])} alternated pairs, two-stage / single (wall/CPU): {ratios}; "
              f"median {result['median_ratio'][0]:.2f}x / {result['median_ratio'][1]:.2f}x")


if __name__ == "__main__":
    main()
