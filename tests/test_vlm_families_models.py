"""Qwen3-VL and Qwen3.5 end to end on tiny random checkpoints built from their real
configs shrunk (tests/tiny_families.py), through the real paths: loading (4-bit on
CPU included; the mixture-of-experts variants too), both stages, prefix reuse
(each family in its way, against full recomputation), annotation,
one SFT and one GRPO step, evaluation, adapters that refuse another family's base,
and the remote backend against a local server answering in each family's convention.
The weights are noise: the tests assert the pipeline, never the text."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from models.detector import DetectorUnavailable
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from models.training.config import TrainConfig
from models.types import Box
from models.vlm.backends import LocalVLM, RemoteVLM
from models.vlm.conversation import GenerationRequest, ImagePart, TextPart, Turn
from models.vlm.local import LocalTransport
from tests.test_vlm_remote import ChatServer, completion
from tests.training_data import make_dataset
from zoomin_ui.cli import main

FAMILIES = ("qwen3-vl", "qwen3.5")
MOE = ("qwen3-vl-moe", "qwen3.5-moe")    # routed experts: the same paths as the dense families
PIXELS, ZOOM, REGIONS = 256 * 256, 64, 1   # Qwen3's 256x256 minimum: 64 visual tokens


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from tests.tiny_families import tiny_family_checkpoint

    root = tmp_path_factory.mktemp("family-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        patch.setenv("ZOOMIN_QUIET", "1")
        yield {family: tiny_family_checkpoint(root, family) for family in (*FAMILIES, *MOE)}


@pytest.fixture(scope="module")
def image():
    return load_image(encode(camera_like_photo(200, 300, seed=5), "PNG"), name="photo.png")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("family-dataset"), count=1)


def _detector(folder, **options):
    settings = {"quant": "none", "max_new_tokens": 6, "min_new_tokens": 6, "max_regions": REGIONS,
                "evidence_context": False, "max_image_pixels": PIXELS, "zoom_size": ZOOM, **options}
    return LocalVLM(model=str(folder), **settings)


@pytest.mark.parametrize("family", FAMILIES + MOE)
def test_both_stages_through_the_real_loading_path(checkpoints, image, family):
    detector = _detector(checkpoints[family])
    assert detector.loaded.family.name == family == detector.family.name
    analysis = detector.analyze(image)
    assert analysis.verdict == "inconclusive" and analysis.provenance["model_family"] == family
    assert analysis.provenance["box_convention"] == "relative-1000"
    assert analysis.provenance["tokens"]["generated"] == 6
    for region in analysis.regions:
        assert 0 <= region.box.x1 < region.box.x2 <= 300 and 0 <= region.box.y1 < region.box.y2 <= 200
    assert analysis.provenance["tokens"]["reused_prefix"] > 64   # the full image's 64 tokens and the text before
    assert analysis.timings["scan_vision"] > 0 and analysis.timings["examine_prefill"] > 0


def test_qwen3_5_is_asked_not_to_think(checkpoints):
    loaded = _detector(checkpoints["qwen3.5"]).loaded
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    text = loaded.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                **loaded.family.template_options())
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


@pytest.mark.parametrize("family", FAMILIES + MOE)
def test_prefix_reuse_equals_recomputation(checkpoints, image, family):
    """Greedy answers continued from the kept prefix (Qwen3-VL: the cache cut back; Qwen3.5: the snapshot
    taken at the prefix end, its recurrent and convolution states included) equal those of one forward
    over the whole prompt, in both stages; deepstack features and interleaved rotary positions included."""
    from models.vlm import prompts
    from models.vlm.geometry import zoom_crop

    detector = _detector(checkpoints[family])
    turns, _, key = detector._prefix(image, "")
    crop, _ = zoom_crop(image.rgb, Box(10, 10, 120, 100), 0.25, ZOOM, detector.family)
    shared = len(turns[1].parts)
    scan = GenerationRequest((turns[0], Turn("user", (*turns[1].parts, TextPart(prompts.scan_request(1, 1, 1))))),
                             "scan", 6, 6, key, shared_parts=shared)
    examine = GenerationRequest((turns[0], Turn("user", (*turns[1].parts, ImagePart(crop), TextPart("verdict?")))),
                                "examine", 8, 8, key, ("generated", "real"), shared_parts=shared)
    warm = LocalTransport(detector.loaded, PIXELS)
    first = warm.generate(scan)
    reused = warm.generate(examine)
    again = warm.generate(examine)    # a later question about the image continues from the same prefix
    cold = LocalTransport(detector.loaded, PIXELS)
    assert first.text == cold.generate(replace(scan, prefix_key=None)).text
    recomputed = cold.generate(replace(examine, prefix_key=None))
    assert first.reused_prefix_tokens == 0 and recomputed.reused_prefix_tokens == 0
    assert reused.reused_prefix_tokens > 64 and again.reused_prefix_tokens >= reused.reused_prefix_tokens
    assert reused.text == again.text == recomputed.text
    for a, b in zip(reused.tokens, recomputed.tokens, strict=True):
        assert a.candidates["real"] == pytest.approx(b.candidates["real"], abs=1e-4)


@pytest.mark.parametrize("family", FAMILIES + MOE)
def test_four_bit_nf4_on_cpu(checkpoints, image, family):
    import bitsandbytes as bnb
    import torch

    detector = _detector(checkpoints[family], quant="4bit", max_new_tokens=3, min_new_tokens=3)
    model = detector.loaded.model
    quantized = [m for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all(not name.startswith("model.visual") for name, m in model.named_modules()
                             if isinstance(m, bnb.nn.Linear4bit))   # the vision tower stays unquantized
    described = detector.loaded.describe()
    assert described["quantization"] == "nf4"
    experts = [p for name, p in model.named_parameters() if ".experts." in name]
    if detector.family.mixture_of_experts:   # fused expert tensors stay as they were, and the load says so
        assert experts and all(type(p) is torch.nn.Parameter and p.is_floating_point() and p.dim() == 3
                               for p in experts)
        assert "experts" in described["quantization_note"]
    else:
        assert not experts and "quantization_note" not in described
    # bitsandbytes' CPU kernel repacks every 4-bit weight on first use where the CPU has AVX512-BF16:
    # rows in groups of 32, inputs in whole blocks of 64. Checked here on every CPU, so a module that
    # cannot be packed (a one-row gate) fails on this machine too, not only on the ones that have it.
    unpackable = [f"{name} {m.out_features}x{m.in_features}" for name, m in model.named_modules()
                  if isinstance(m, bnb.nn.Linear4bit) and (m.out_features % 32 or m.in_features % 64)]
    assert not unpackable, f"4-bit modules the CPU kernel cannot pack: {unpackable}"
    assert detector.analyze(image).backend_version.endswith("nf4")


@pytest.mark.parametrize("family", ("qwen3-vl", "qwen3-vl-moe"))
def test_eight_bit_loads_or_says_why(checkpoints, family):
    try:
        detector = _detector(checkpoints[family], quant="8bit")
    except DetectorUnavailable as exc:
        pytest.skip(f"8-bit not available here: {exc}")
    assert detector.loaded.describe()["quantization"] == "int8"


@pytest.mark.parametrize("family", FAMILIES + MOE)
def test_sft_grpo_adapter_and_eval(checkpoints, dataset, tmp_path, family):
    from models.evaluation.perturb import parse_perturbations
    from models.evaluation.runner import load_items, run_evaluation
    from models.training.grpo import train_grpo
    from models.training.sft import train_sft

    common = dict(base_model=str(checkpoints[family]), max_steps=1, learning_rate=1e-3, max_image_pixels=PIXELS,
                  zoom_size=ZOOM, max_regions=REGIONS, evidence_context=False, device="cpu")
    sft = train_sft(dataset, TrainConfig(output_dir=str(tmp_path / "sft"), **common))
    assert sft.steps == 1 and math.isfinite(sft.final_loss)
    recorded = json.loads((tmp_path / "sft" / "training_config.json").read_text())["family"]
    assert recorded["name"] == family and recorded["box_convention"] == "relative-1000" and recorded["cell"] == 32
    grpo = train_grpo(dataset, TrainConfig(**{**common, "base_model": str(tmp_path / "sft")},
                                           output_dir=str(tmp_path / "grpo"), method="grpo", num_generations=2,
                                           max_completion_length=4))
    assert grpo.steps == 1 and math.isfinite(grpo.final_loss)
    tuned = _detector(tmp_path / "grpo", max_new_tokens=3, min_new_tokens=3)
    assert tuned.family.name == family
    run = run_evaluation(tuned, load_items(dataset), parse_perturbations("none"), progress=False)
    assert len(run.predictions["none"]) == 2 and not run.failures and run.model_family == family


def test_an_adapter_refuses_another_familys_base(checkpoints, dataset, tmp_path):
    from models.training.sft import train_sft

    trained = tmp_path / "qwen3-vl-adapter"
    train_sft(dataset, TrainConfig(base_model=str(checkpoints["qwen3-vl"]), output_dir=str(trained), max_steps=1,
                                   max_image_pixels=PIXELS, zoom_size=ZOOM, max_regions=REGIONS,
                                   evidence_context=False, device="cpu"))
    moved = tmp_path / "pointed-elsewhere"
    shutil.copytree(trained, moved)
    config = json.loads((moved / "adapter_config.json").read_text())
    (moved / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path":
                                                           str(checkpoints["qwen3.5"])}))
    with pytest.raises(DetectorUnavailable, match=r"trained on a Qwen3-VL model.*is a Qwen3.5 checkpoint"):
        _detector(moved)


@pytest.mark.parametrize("family", FAMILIES + MOE)
def test_annotation_with_the_local_model(checkpoints, tmp_path, family):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(encode(camera_like_photo(120, 160, seed=1), "PNG"))
    (tmp_path / "labels.csv").write_text("file,label\na.png,fake\n")
    result = CliRunner().invoke(main, ["dataset", "annotate", str(images), "--labels", str(tmp_path / "labels.csv"),
                                       "--backend", "vlm", "--model", str(checkpoints[family]), "--quant", "none",
                                       "--max-new-tokens", "4", "--retries", "0", "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 0, result.output
    assert "1 image(s): 0 annotated (0 box(es)), 0 already done, 1 dropped" in result.output  # noise is dropped


@pytest.mark.parametrize("model, family, answer", [
    ("Qwen/Qwen3-VL-8B-Instruct", None, '[{"bbox_2d": [250, 250, 500, 750], "label": "hand"}]'),
    ("Qwen/Qwen3.5-9B", None, '<think>The fingers.</think>\n```json\n[{"bbox_2d": [250, 250, 500, 750]}]\n```'),
    ("served-model", "qwen3-vl", '```json\n[{"bbox_2d": [250, 250, 500, 750], "label": "hand"}]\n```'),
])
def test_the_remote_backend_in_each_familys_convention(model, family, answer):
    photo = load_image(encode(camera_like_photo(480, 640, seed=9), "PNG"), name="p.png")
    server = ChatServer()
    server.script = [("json", completion(answer)), ("json", completion("<verdict>real</verdict>"))]
    try:
        detector = RemoteVLM(base_url=server.url, model=model, family=family, evidence_context=False, max_regions=1,
                             retries=0)
        analysis = detector.analyze(photo)
    finally:
        server.close()
    assert analysis.regions[0].box.to_list() == pytest.approx([160, 120, 320, 360], abs=1.0)
    assert analysis.provenance["model_family"] == (family or detector.family.name)
    scan_body = server.requests[0]["body"]
    assert "from 0 to 1000" in scan_body["messages"][1]["content"][-1]["text"]
    sent = scan_body["messages"][1]["content"][1]["image_url"]["url"]
    assert sent.startswith("data:image/png")
    thinks = detector.family.chat_template_options
    assert scan_body.get("chat_template_kwargs") == ({"enable_thinking": False} if thinks else None)


@pytest.mark.parametrize("family", ("qwen3.5", "qwen3.5-moe"))
def test_the_snapshot_is_taken_inside_the_one_prefill_pass(checkpoints, family):
    """The copy taken at the prefix end while the whole prompt is prefilled holds what a forward over the
    prefix alone leaves (recurrent and convolution states, attention keys and values); the pass's own
    output is that of a plain forward; continuing from the copy gives the plain forward's last logits; and
    the model runs one forward over the prompt, not two, each recurrent layer's projections once."""
    import copy

    import torch

    from models.vlm.families import GATED_DELTA_NET
    from models.vlm.prefix_snapshot import SnapshotCapture

    model = _detector(checkpoints[family]).loaded.model
    prompt = torch.randint(0, 200, (1, 41), generator=torch.Generator().manual_seed(3))
    length = 23      # not a multiple of the delta rule's 64-token chunks, nor of the convolution window
    calls = []
    # text positions from the tokens alone: nothing an earlier test's image query left on the model
    fresh_positions = model.register_forward_pre_hook(lambda *_: setattr(model.model, "rope_deltas", None))
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.inference_mode():
            plain = model(input_ids=prompt, use_cache=True)
            capture = SnapshotCapture(model, GATED_DELTA_NET, length)
            projections = [getattr(mixer, name) for mixer in capture.mixers
                           for name in (*GATED_DELTA_NET.input_projections, GATED_DELTA_NET.output_projection)]
            reads = []
            counters = [m.register_forward_hook(lambda *_: reads.append(1)) for m in projections]
            with capture:
                split = model(input_ids=prompt, use_cache=True)
            for counter in counters:
                counter.remove()
            assert len(calls) == 2     # one forward each
            assert len(reads) == len(projections)   # each projection's weights read once, for every token
            snapshot = capture.snapshot(split.cache)
            prefix_only = model(input_ids=prompt[:, :length], use_cache=True).cache
            continued = model(input_ids=prompt[:, length:], cache=copy.deepcopy(snapshot), use_cache=True)
    finally:
        handle.remove()
        fresh_positions.remove()
    assert "forward" not in vars(capture.mixers[0])      # the modules' own forward is back
    assert torch.allclose(split.logits, plain.logits, atol=1e-4)
    assert torch.allclose(continued.logits[:, -1], plain.logits[:, -1], atol=1e-4)
    recurrent = [i for i, layer in enumerate(snapshot.layers) if hasattr(layer, "recurrent_states")]
    assert recurrent and len(recurrent) < len(snapshot.layers) == len(prefix_only.layers)
    for index, (kept, reference) in enumerate(zip(snapshot.layers, prefix_only.layers, strict=True)):
        if index in recurrent:
            assert torch.allclose(kept.recurrent_states[0], reference.recurrent_states[0], atol=1e-5)
            assert torch.equal(kept.conv_states[0], reference.conv_states[0])
        else:
            assert kept.get_seq_length() == length
            assert torch.allclose(kept.keys, reference.keys, atol=1e-5)
            assert torch.allclose(kept.values, reference.values, atol=1e-5)


def test_a_scan_prefills_its_prompt_once(checkpoints, image):
    """Stage 1 of a snapshot family keeps its prefix without a forward pass of its own: one prefill and the
    decode steps (before, the prefix was prefilled apart: one forward more, a whole pass over the weights)."""
    from models.vlm import prompts

    detector = _detector(checkpoints["qwen3.5"])
    turns, _, key = detector._prefix(image, "")
    scan = GenerationRequest((turns[0], Turn("user", (*turns[1].parts, TextPart(prompts.scan_request(1, 1, 1))))),
                             "scan", 6, 6, key, shared_parts=len(turns[1].parts))
    transport = LocalTransport(detector.loaded, PIXELS)
    calls = []
    handle = detector.loaded.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        transport.generate(scan)
    finally:
        handle.remove()
    assert len(calls) == 6                              # 1 prefill + 5 decode steps for 6 new tokens
    assert transport._prefixes.reusable(key, transport.loaded.processor(
        text=["x"], return_tensors="pt")["input_ids"]) == (0, None)   # kept, but only for its own prefix
    assert key in transport._prefixes._kept
