"""The model-family registry, without loading a model: which family a checkpoint or a
served model is, the families' facts against transformers' own defaults, boxes
round-tripping through each family's convention, and answers shaped as each
family really writes them read back to the right displayed pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from models.types import Box
from models.vlm.conversation import Generation
from models.vlm.families import (FAMILIES, FAMILY_NAMES, QWEN2_5_VL, QWEN3_5, QWEN3_5_MOE, QWEN3_VL, QWEN3_VL_MOE,
                                 UnknownFamily, for_checkpoint, for_model_name, for_remote, from_config)
from models.vlm.geometry import ModelGrid, model_input_size
from models.vlm.parsing import parse_scan, split_reasoning
from models.vlm.protocol import VisionLanguageDetector
from models.vlm.settings import VLMSettings

NEW_FAMILIES = (QWEN3_VL, QWEN3_5)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_family_is_read_from_config_json(family, tmp_path):
    assert from_config({"model_type": family.model_types[0]}) is family
    assert from_config({"architectures": list(family.architectures)}) is family
    (tmp_path / "config.json").write_text(json.dumps({"model_type": family.model_types[0]}))
    assert for_checkpoint(tmp_path) is family


def test_an_unknown_architecture_names_the_supported_families(tmp_path):
    with pytest.raises(UnknownFamily, match="llava_next model") as refused:
        from_config({"model_type": "llava_next", "architectures": ["LlavaNextForConditionalGeneration"]})
    assert all(f.title in str(refused.value) for f in FAMILIES)
    with pytest.raises(UnknownFamily, match="cannot read"):
        for_checkpoint(tmp_path)


def test_the_families_facts_are_transformers_own():
    from transformers import Qwen2_5_VLConfig, Qwen2VLImageProcessor, Qwen3_5Config, Qwen3VLConfig

    for family, config in ((QWEN2_5_VL, Qwen2_5_VLConfig()), (QWEN3_VL, Qwen3VLConfig()), (QWEN3_5, Qwen3_5Config())):
        assert config.model_type in family.model_types
        assert (config.vision_config.patch_size, config.vision_config.spatial_merge_size) == (
            family.patch_size, family.merge_size)
    assert (QWEN2_5_VL.cell, QWEN3_VL.cell, QWEN3_5.cell) == (28, 32, 32)
    defaults = Qwen2VLImageProcessor()  # Qwen2.5-VL's processor bounds are the image processor's defaults
    assert (defaults.size["shortest_edge"], defaults.size["longest_edge"]) == (QWEN2_5_VL.min_pixels,
                                                                               QWEN2_5_VL.max_pixels)
    assert [f.box_convention for f in (QWEN2_5_VL, QWEN3_VL, QWEN3_5)] == ["absolute-resized", "relative-1000",
                                                                            "relative-1000"]
    # a family whose language side has linear-attention layers (a recurrent state) reuses its prefix by
    # snapshot; attention-only families cut their cache back
    from transformers import Qwen3_5MoeConfig, Qwen3VLMoeConfig

    for family, config in ((QWEN2_5_VL, Qwen2_5_VLConfig()), (QWEN3_VL, Qwen3VLConfig()), (QWEN3_5, Qwen3_5Config()),
                           (QWEN3_VL_MOE, Qwen3VLMoeConfig()), (QWEN3_5_MOE, Qwen3_5MoeConfig())):
        assert config.model_type in family.model_types
        recurrent = "linear_attention" in (getattr(config.text_config, "layer_types", None) or ())
        assert family.prefix_reuse == ("snapshot" if recurrent else "crop")


@pytest.mark.parametrize("name, family", [
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"), ("qwen2.5vl:7b", "qwen2.5-vl"),
    ("Qwen/Qwen3-VL-4B-Instruct", "qwen3-vl"), ("Qwen/Qwen3-VL-2B-Thinking", "qwen3-vl"),
    ("qwen3-vl:8b", "qwen3-vl"), ("Qwen/Qwen3-VL-30B-A3B-Instruct", "qwen3-vl-moe"),
    ("Qwen/Qwen3.5-4B", "qwen3.5"), ("qwen3.5:9b", "qwen3.5"), ("Qwen/Qwen3.5-35B-A3B", "qwen3.5-moe"),
])
def test_a_served_models_family_from_its_name(name, family):
    assert for_model_name(name).name == family
    assert for_remote(name) == (for_model_name(name), "")


def test_a_served_name_without_a_family_is_assumed_and_said_so_or_named():
    assumed, note = for_remote("served-model")
    assert assumed is QWEN2_5_VL and "--family" in note and "served-model" in note
    assert for_remote("served-model", "qwen3-vl") == (QWEN3_VL, "")
    with pytest.raises(UnknownFamily, match="qwen3.5"):
        for_remote("served-model", "gemma")
    assert set(FAMILY_NAMES) >= {"qwen2.5-vl", "qwen3-vl", "qwen3.5"}


@st.composite
def image_and_box(draw):
    """Random and extreme sizes and aspects (up to the processor's 200:1), a box inside."""
    long_side = draw(st.integers(16, 12000))
    aspect = draw(st.one_of(st.floats(1.0, 4.0), st.floats(4.0, 199.0)))
    short_side = max(4, int(long_side / aspect))
    width, height = (long_side, short_side) if draw(st.booleans()) else (short_side, long_side)
    x1 = draw(st.floats(0, width - 2.0))
    y1 = draw(st.floats(0, height - 2.0))
    x2 = draw(st.floats(x1 + 2.0, float(width)))
    y2 = draw(st.floats(y1 + 2.0, float(height)))
    return width, height, Box(x1, y1, x2, y2)


@pytest.mark.parametrize("family", (QWEN2_5_VL, QWEN3_VL, QWEN3_5), ids=lambda f: f.name)
@settings(max_examples=100, deadline=None)
@given(case=image_and_box(), limit=st.sampled_from([64 * 64, 512 * 28 * 28, 1280 * 28 * 28, 4096 * 4096]))
def test_displayed_pixels_to_the_families_convention_and_back(family, case, limit):
    width, height, box = case
    if max(width, height) / min(width, height) > 200:
        return
    exact = (box.x1, box.y1, box.x2, box.y2)
    grid = ModelGrid.for_image(width, height, limit, family)
    assert grid.model_width % family.cell == 0 and grid.model_height % family.cell == 0
    model = grid.to_model(box)
    if family.box_convention == "relative-1000":
        assert all(-1e-6 <= v <= 1000 + 1e-6 for v in model)
    back = grid.scaled_corners(model, grid.units)  # floats: within a pixel (here, exactly up to rounding)
    assert max(abs(a - b) for a, b in zip(exact, back)) <= 1.0
    # as the prompt and the training answers write it (whole numbers): within half a model unit
    resolution = (max(width / 1000, height / 1000) if family.box_convention == "relative-1000"
                  else max(grid.scale_x, grid.scale_y))
    rounded = grid.scaled_corners(grid.to_model_ints(box), grid.units)
    assert max(abs(a - b) for a, b in zip(exact, rounded)) <= resolution / 2 + 1e-6


@settings(max_examples=20, deadline=None)
@given(width=st.integers(40, 1400), height=st.integers(40, 1400))
def test_our_qwen3_grid_is_the_one_its_processor_uses(width, height):
    from tests.tiny_families import build_qwen3_processor
    from tests.tiny_qwen import build_tokenizer

    if not _PROCESSOR:
        _PROCESSOR.append(build_qwen3_processor(build_tokenizer(), "{{ '' }}"))
    limit = 700 * 32 * 32
    image = np.zeros((height, width, 3), dtype=np.uint8)
    grid = _PROCESSOR[0].image_processor(images=[image], size={"shortest_edge": QWEN3_VL.min_pixels,
                                                               "longest_edge": limit},
                                         return_tensors="pt")["image_grid_thw"][0].tolist()
    assert (grid[2] * 16, grid[1] * 16) == model_input_size(width, height, limit, QWEN3_VL)


_PROCESSOR: list = []


# ---------------------------------------------------------------- answers as each family writes them

class _Scripted:
    """A transport of one family that answers the scan with `scan` and the examine query with `examine`."""

    def __init__(self, family, scan: str, examine: str = "<verdict>real</verdict>"):
        self.family, self.answers, self.requests = family, {"scan": scan, "examine": examine}, []

    def generate(self, request):
        self.requests.append(request)
        return Generation(text=self.answers[request.stage])

    def describe(self):
        return {"model_id": f"scripted-{self.family.name}"}


PHOTO = load_image(encode(camera_like_photo(480, 640, seed=3), "PNG"), name="photo.png")
TRUTH = Box(160, 120, 320, 360)  # displayed pixels of the 640x480 photo


def _answers(family):
    if family.box_convention == "relative-1000":
        coords = [250, 250, 500, 750]  # TRUTH in 0-1000 of each axis
    else:
        grid = ModelGrid.for_image(640, 480, VLMSettings().max_image_pixels, family)
        coords = grid.to_model_ints(TRUTH)
    item = json.dumps([{"bbox_2d": coords, "label": "melted fingers", "reason": "six fingers"}])
    return {
        "bare JSON": item,
        "fenced JSON": f"```json\n{item}\n```",
        "a thinking block first": f"<think>The hand at [10, 10, 20, 20] looks odd.</think>\n{item}",
        "reasoning ended by a bare </think>": f"Let me look at the hand near (5, 5).\n</think>\n\n```json\n{item}\n```",
        "a list cut off after one entry": item[:-1] + ', {"bbox_2d": [1, 2',
    }


@pytest.mark.parametrize("family", (QWEN2_5_VL, QWEN3_VL, QWEN3_5), ids=lambda f: f.name)
@pytest.mark.parametrize("shape", list(_answers(QWEN3_VL)))
def test_each_familys_answers_land_on_the_right_pixels(family, shape):
    transport = _Scripted(family, _answers(family)[shape])
    detector = VisionLanguageDetector("vlm", transport, VLMSettings(evidence_context=False, max_regions=2))
    analysis = detector.analyze(PHOTO)
    assert analysis.provenance["regions_source"] == "model"
    assert max(abs(a - b) for a, b in zip(analysis.regions[0].box.to_list(), TRUTH.to_list())) <= 2.0
    assert analysis.provenance["model_family"] == family.name
    assert analysis.provenance["scan_parse"]["box_units"] == family.box_units
    scan_prompt = transport.requests[0].turns[1].parts[-1].text
    assert ("from 0 to 1000" in scan_prompt) == (family.box_convention == "relative-1000")
    caption = next(p.text for p in transport.requests[1].turns[1].parts
                   if getattr(p, "text", "").startswith("Region 1"))
    assert ("(0-1000)" in caption) == (family.box_convention == "relative-1000")


def test_reasoning_is_set_aside_and_unfinished_thinking_is_named():
    assert split_reasoning("<think>a [1, 2, 3, 4]</think>[]") == ("a [1, 2, 3, 4]", "[]")
    assert split_reasoning("plain [] answer") == ("", "plain [] answer")
    cut = parse_scan("<think>The hand at [12, 40, 300, 288] is")
    assert cut.boxes == [] and "still reasoning" in cut.problem and "--max-new-tokens" in cut.problem
    assert parse_scan("<think>nothing at [1, 2, 3, 4]</think>\n[]").said_none


def test_the_grid_and_the_crops_use_the_familys_cells():
    from models.vlm.geometry import zoom_crop

    for family in (QWEN2_5_VL, QWEN3_VL):
        grid = ModelGrid.for_image(100, 60, VLMSettings().max_image_pixels, family)
        assert grid.model_width * grid.model_height >= family.min_pixels  # Qwen3's 256x256 minimum
        crop, _ = zoom_crop(PHOTO.rgb, TRUTH, 0.25, 336, family)
        assert crop.size[0] % family.cell == 0 and crop.size[1] % family.cell == 0


# ---------------------------------------------------------------- hardware-aware suggestions

def test_suggestions_fit_the_memory_and_say_they_are_estimates():
    from click.testing import CliRunner

    from models.vlm.hardware import HEADROOM, Machine, best, estimated_gib, suggestions
    from zoomin_ui.cli import main

    laptop = best(Machine(ram_gib=16, gpu="laptop GPU", vram_gib=8))
    assert laptop.fits and laptop.estimated_gib <= 8 * HEADROOM
    assert laptop.quantization == "4bit" and laptop.checkpoint.parameters_b > 4   # a 7-9B at 4-bit, not 4B
    assert best(Machine(ram_gib=1.0)) is None
    cpu = best(Machine(ram_gib=24))
    assert cpu.quantization == "4bit" and cpu.checkpoint.parameters_b <= 5   # CPU: small and 4-bit, for speed
    for item in suggestions(Machine(ram_gib=64, gpu="g", vram_gib=24)):   # less precision never costs more
        four, eight, full = (estimated_gib(item.checkpoint, q, "cuda") for q in ("4bit", "8bit", "none"))
        assert four < eight < full
    result = CliRunner().invoke(main, ["models", "suggest", "--ram-gb", "32", "--vram-gb", "12"])
    assert result.exit_code == 0, result.output
    assert "estimate" in result.output and "--quant 4bit" in result.output and "zoomin models pull" in result.output
    refused = CliRunner().invoke(main, ["analyze", "x.png", "--backend", "vlm", "--family", "qwen3-vl"])
    assert refused.exit_code == 2 and "--family cannot be used with --backend vlm" in refused.output
