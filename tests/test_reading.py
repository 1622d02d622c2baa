"""The plain reading of an analysis: one headline per evidence path, within the
word limit, naming what decided it, free of expert words, agreeing with the
verdict, with the one number its words describe (or none)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.evidence.c2pa_credentials import C2paAction, C2paSummary
from models.evidence.fusion import fuse
from models.glossary import BANNED_TERMS, FIGURE_LABELS, HEADLINE_MAX_WORDS, terms_for
from models.reading import read_analysis, region_line
from models.types import Analysis, Box, Evidence, Region
from models.vlm.verdict import fuse_with_evidence, model_verdict
from models.vlm.parsing import parse_examine

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def credentials(source_type: str | None, trust: str, *, edits: int = 0, intact: bool = True,
                signer: str = "Adobe Inc.") -> dict:
    actions = [C2paAction("c2pa.created", IPTC + source_type if source_type else None)]
    actions += [C2paAction("c2pa.edited", software_agent="Adobe Photoshop 25.0") for _ in range(edits)]
    return C2paSummary(present=True, readable=True, validation_state="Valid" if intact else "Invalid",
                       failure_codes=[] if intact else ["assertion.dataHash.mismatch"], integrity_ok=intact,
                       trust_status=trust, signer_common_name=signer, signing_time="2026-03-01T10:00:00Z",
                       claim_generator="Adobe Photoshop 25.0", actions=actions, ingredient_count=1,
                       ingredient_titles=["IMG_0042.CR3"]).to_dict()


def c2pa(details: dict, supports: str = "neither", strength: float = 0.0, decisive: bool = False) -> Evidence:
    return Evidence("provenance", "c2pa", "Content Credentials (expert wording)", supports, strength, decisive,
                    details)


def signal(supports: str, probability: float) -> Evidence:
    return Evidence("signal", "signal-model", f"learned residual model: P(AI)={probability:.2f} (calibrated)",
                    supports, 0.4 if supports != "neither" else 0.0, False, {"probability": probability})


CAMERA_EXIF = Evidence("metadata", "exif:camera", "EXIF camera metadata: Canon EOS R5, 1/250 s", "real", 0.3, False,
                       {"make": "Canon", "model": "EOS R5", "exposure_time": 0.004})
COMFY = Evidence("metadata", "text:comfyui", "PNG text chunk 'prompt': a ComfyUI generation graph", "ai-generated",
                 0.95, True, {"generator": "ComfyUI", "checkpoints": ["sd_xl_base_1.0.safetensors"],
                              "samplers": [{"node": "KSampler", "seed": 42, "steps": 30, "cfg": 7.5,
                                            "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}],
                              "prompt": "a lighthouse at dusk, " * 30, "negative_prompt": "blurry",
                              "size": "1024x1024"})
WATERMARK = Evidence("watermark", "invisible-watermark", "SDXL invisible watermark: 48 of 48 bits agree",
                     "ai-generated", 0.98, True, {"pattern": "SDXL"})
NO_WATERMARK = Evidence("watermark", "invisible-watermark", "No known Stable Diffusion invisible watermark found",
                        details={"checked": True})
ODD = Region(Box(10, 10, 90, 90), 0.99, "smoother than the rest (noise)", "noise 0.3 grey levels", id="r1")


def engine_analysis(evidence: list[Evidence], regions: list[Region] = ()) -> Analysis:
    fusion = fuse(list(evidence), list(regions))
    analysis = Analysis("x.jpg", "0" * 64, 1000, "JPEG", 100, 100, fusion.verdict, fusion.score, list(regions),
                        list(evidence), fusion.explanation, "evidence", "test")
    analysis.reading = read_analysis(analysis)
    return analysis


def vlm_analysis(answer: str, evidence: list[Evidence] = (), p_generated: float | None = None) -> Analysis:
    parsed = parse_examine(answer)
    judged = model_verdict(parsed, None, "the server returned no logprobs", "Qwen/Qwen2.5-VL-7B-Instruct")
    if judged.verdict == "inconclusive":
        model = Evidence("model", "local:Qwen/Qwen2.5-VL-7B-Instruct", judged.explanation,
                         details={"problem": parsed.problem})
    else:
        source = "measured: verdict token probabilities" if p_generated is not None else judged.score_source
        model = Evidence("model", "local:Qwen/Qwen2.5-VL-7B-Instruct", "the model's verdict", judged.verdict, 0.5,
                         details={"p_generated": p_generated, "score_source": source, "reasoning": parsed.reasoning})
    verdict, score, text, _ = fuse_with_evidence(judged, list(evidence))
    if p_generated is not None and verdict == judged.verdict:
        score = p_generated
    analysis = Analysis("x.jpg", "0" * 64, 1000, "JPEG", 100, 100, verdict, score, [], [model, *evidence], text,
                        "local", "test")
    analysis.reading = read_analysis(analysis)
    return analysis


PATHS = {
    # name: (analysis, expected verdict, words the headline must contain to name what decided)
    "c2pa ai": (lambda: engine_analysis([c2pa(credentials("trainedAlgorithmicMedia", "trusted", signer="Adobe "
                                                          "Firefly"), "ai-generated", 0.97, True)]),
                "ai-generated", ("Content Credentials", "Adobe Firefly")),
    "c2pa camera trusted": (lambda: engine_analysis([c2pa(credentials("digitalCapture", "trusted", signer="Leica "
                                                                      "Camera AG"), "real", 0.95, True)]),
                            "real", ("Content Credentials", "Leica Camera AG", "trust list")),
    "c2pa untrusted": (lambda: engine_analysis([c2pa(credentials("digitalCapture", "untrusted"), "real", 0.4),
                                                signal("neither", 0.5)]),
                       "inconclusive", ("camera capture", "not on your trust list")),
    "c2pa edited": (lambda: engine_analysis([c2pa(credentials(None, "untrusted", edits=13)), signal("neither", 0.52)]),
                    "inconclusive", ("signed by Adobe Inc.", "13 edits", "none with AI")),
    "generator metadata": (lambda: engine_analysis([COMFY, signal("neither", 0.4)]),
                           "ai-generated", ("generation settings", "ComfyUI")),
    "watermark": (lambda: engine_analysis([WATERMARK, signal("real", 0.1)]), "ai-generated", ("watermark",)),
    "camera exif only": (lambda: engine_analysis([CAMERA_EXIF, NO_WATERMARK, signal("neither", 0.5)]),
                         "inconclusive", ("camera metadata", "Canon EOS R5")),
    "signal above": (lambda: engine_analysis([NO_WATERMARK, signal("ai-generated", 0.97)]),
                     "ai-generated", ("pixel",)),
    "signal below": (lambda: engine_analysis([NO_WATERMARK, signal("real", 0.03)]), "real", ("pixel",)),
    "signal between": (lambda: engine_analysis([NO_WATERMARK, signal("neither", 0.6)]), "inconclusive", ("pixel",)),
    "signal real but a region stands out": (lambda: engine_analysis([signal("real", 0.03)], [ODD]),
                                            "inconclusive", ("r1",)),
    "nothing at all": (lambda: engine_analysis([]), "inconclusive",
                       ("no record of where it came from", "no pixel analysis")),
    "vlm answer": (lambda: vlm_analysis("<think>The hands have six fingers.</think><verdict>generated</verdict>"),
                   "ai-generated", ("vision-language model",)),
    "vlm parse failure": (lambda: vlm_analysis("I cannot say."), "inconclusive", ("vision-language model",)),
}
VERDICT_SIGNS = {"ai-generated": "AI-generated", "real": "Likely real", "inconclusive": "Can't tell"}


@pytest.mark.parametrize("name", PATHS)
def test_every_path_reads_as_one_plain_sentence_naming_its_evidence(name):
    make, verdict, named = PATHS[name]
    analysis = make()
    headline = analysis.reading.headline
    assert analysis.verdict == verdict, analysis.explanation
    assert len(headline.split()) <= HEADLINE_MAX_WORDS, headline
    assert headline.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", headline[:-1]), headline  # one sentence
    assert headline.startswith(VERDICT_SIGNS[verdict]), headline
    for other, sign in VERDICT_SIGNS.items():
        if other != verdict:
            assert sign.lower() not in headline.lower(), headline
    for words in named:
        assert words in headline, (words, headline)
    reader_text = " ".join([headline, analysis.reading.basis, analysis.reading.limits, *analysis.reading.key_points])
    for term in BANNED_TERMS:
        assert term.lower() not in reader_text.lower(), (term, reader_text)
    assert 3 <= len(analysis.reading.key_points) <= 5, analysis.reading.key_points


def test_file_records_decide_without_a_number_and_pixels_show_theirs():
    assert PATHS["c2pa ai"][0]().reading.figure is None
    assert PATHS["c2pa ai"][0]().reading.confidence == "provenance"
    assert PATHS["generator metadata"][0]().reading.confidence == "strong"
    above = PATHS["signal above"][0]().reading
    assert above.figure == pytest.approx(0.97) and above.figure_label == FIGURE_LABELS["signal"]
    assert above.confidence == "weak"
    assert PATHS["nothing at all"][0]().reading.confidence == "not-enough"


def test_the_edited_photo_shows_the_pixel_figure_not_the_mixed_score():
    analysis = engine_analysis([c2pa(credentials(None, "untrusted", edits=13)), CAMERA_EXIF, signal("neither", 0.52)],
                               [ODD])
    assert analysis.score > 0.6  # the ranking score mixes in the region and the weak evidence
    assert analysis.reading.figure == pytest.approx(0.52)
    assert "Content Credentials" in analysis.explanation and "no provenance" not in analysis.explanation


def test_weak_signal_never_overrides_intact_camera_metadata():
    analysis = engine_analysis([CAMERA_EXIF, signal("ai-generated", 0.9)])
    assert analysis.verdict == "inconclusive"
    assert "camera metadata" in analysis.reading.headline and "AI" in analysis.reading.headline


def test_vlm_figure_only_when_the_probability_was_measured():
    answer = "<think>Plausible light.</think><verdict>real</verdict>"
    assert vlm_analysis(answer).reading.figure is None
    measured = vlm_analysis(answer, p_generated=0.2).reading
    assert measured.figure == pytest.approx(0.2) and measured.figure_label == FIGURE_LABELS["model"]


def test_decisive_file_evidence_outweighs_the_vlm_and_says_so():
    analysis = vlm_analysis("<verdict>real</verdict>", [WATERMARK])
    assert analysis.verdict == "ai-generated" and "watermark" in analysis.reading.headline
    assert any("outweighs" in point for point in analysis.reading.key_points)


def test_recipe_is_kept_whole_in_display_order():
    recipe = PATHS["generator metadata"][0]().reading.recipe
    assert list(recipe)[:4] == ["Generator", "Prompt", "Negative prompt", "Model"]
    assert recipe["Prompt"] == COMFY.details["prompt"] and recipe["Seed"] == "42" and recipe["Steps"] == "30"
    assert recipe["Sampler"] == "dpmpp_2m" and recipe["Size"] == "1024x1024"


def test_credentials_key_point_separates_signature_from_trust():
    points = PATHS["c2pa untrusted"][0]().reading.key_points
    line = next(p for p in points if p.startswith("Signed by"))
    assert "the signature is intact" in line and "is not on your trust list" in line and "Valid" not in line


def test_region_lines_are_plain():
    assert region_line(ODD) == "Smoother than the rest of the image, as pasted or AI-filled areas often are."
    vlm_region = Region(Box(0, 0, 5, 5), 0.75, "left hand", evidence=[
        Evidence("model", "local:examine", "Six fingers on the left hand. The thumb is fused.", "ai-generated")])
    assert region_line(vlm_region) == "Six fingers on the left hand."
    for label in ("periodic resampling trace", "camera/grid trace missing", "compression differs (error level)",
                  "noisier than the rest (noise)", "generator-like residuals (learned model)", "no clear anomaly"):
        line = region_line(Region(Box(0, 0, 5, 5), 0.95, label))
        assert line.endswith(".") and not any(t.lower() in line.lower() for t in BANNED_TERMS), line


def test_glossary_entries_follow_the_evidence():
    terms = terms_for(PATHS["c2pa untrusted"][0]())
    assert {"Can't tell", "Content Credentials", "Trusted signer", "Signal evidence", "Score"} <= set(terms)
    assert "Watermark" not in terms
    assert all("docs/" not in text for text in terms.values())


def test_the_engine_attaches_a_reading_end_to_end(tmp_path):
    from models.evidence.engine import EvidenceEngine
    from models.image_input import load_image
    from zoomin_ui.service import write_demo_images

    samples = dict((path.name, path) for path, _ in write_demo_images(tmp_path))
    engine = EvidenceEngine()
    generated = engine.analyze(load_image(str(samples["image-with-generator-metadata.png"])))
    assert generated.verdict == "ai-generated" and generated.reading is not None
    assert "generation settings" in generated.reading.headline and generated.reading.recipe["Seed"]
    assert generated.to_dict()["reading"]["headline"] == generated.reading.headline
    patched = engine.analyze(load_image(str(samples["camera-photo-with-upscaled-patch.png"])))
    assert patched.reading.headline.startswith(VERDICT_SIGNS[patched.verdict])
    assert all(region_line(r) for r in patched.regions)


def test_the_terminal_summary_leads_with_the_verdict_and_headline_and_folds_the_prompt():
    from zoomin_ui.summary import PROMPT_SHOWN, fold, render_analysis

    analysis = PATHS["generator metadata"][0]()
    text = render_analysis(analysis)
    lines = text.splitlines()
    assert lines[1].startswith("  AI-GENERATED  (confidence: strong)")
    flat = " ".join(text.split())
    assert flat.split("\n")[0].split(" Why: ")[0].endswith(analysis.reading.headline)
    shown = fold(analysis.reading.recipe["Prompt"])
    assert shown.endswith("…") and len(shown) <= PROMPT_SHOWN + 1
    assert f"Prompt: {shown} Negative prompt: blurry" in flat
    assert text.index("Generation recipe") < text.index("Measurements (expert detail)")
    assert text.index("Seed: 42") < text.index("Measurements (expert detail)")


def test_the_summary_shows_the_figure_its_words_describe_not_the_ranking_score():
    from zoomin_ui.summary import render_analysis

    analysis = engine_analysis([c2pa(credentials(None, "untrusted", edits=13)), signal("neither", 0.52)], [ODD])
    head = render_analysis(analysis).splitlines()[1]
    assert "0.52" in head and f"{analysis.score:.2f}" not in head


def test_the_json_document_shows_every_field_the_output_has():
    import json
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "json-output.md").read_text("utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    produced = PATHS["signal between"][0]().to_dict()
    assert set(example) == set(produced)
    assert set(example["reading"]) == set(produced["reading"])
    assert len(example["reading"]["headline"].split()) <= HEADLINE_MAX_WORDS


def test_a_vision_language_backend_attaches_its_reading_end_to_end():
    import math

    from models.image_input import load_image
    from models.sample_images import camera_like_photo, encode
    from tests.test_vlm_remote import EXAMINE_ANSWER, SCAN_ANSWER, ChatServer, completion, remote, tokens_of

    server = ChatServer()
    try:
        alternatives = [("generated", math.log(0.8)), ("real", math.log(0.15))]
        server.script = [("json", completion(SCAN_ANSWER)),
                         ("json", completion(EXAMINE_ANSWER, tokens_of(EXAMINE_ANSWER, alternatives)))]
        analysis = remote(server).analyze(load_image(encode(camera_like_photo(240, 320, seed=3), "PNG")))
    finally:
        server.close()
    reading = analysis.reading
    assert analysis.verdict == "ai-generated" and reading.headline.startswith("AI-generated")
    assert "vision-language model" in reading.headline and reading.confidence == "weak"
    assert reading.figure == pytest.approx(analysis.score) and reading.figure_label == FIGURE_LABELS["model"]
    assert all(region_line(r) for r in analysis.regions)


def _png_with_text(chunks: dict[str, str]):
    import io

    from PIL import Image, PngImagePlugin

    from models.image_input import load_image

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buffer, "PNG", pnginfo=info)
    return load_image(buffer.getvalue(), name="generated.png")


COMFY_API_GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 8675309, "steps": 28, "cfg": 6.5, "sampler_name": "euler",
                                               "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                               "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["8", 0], "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "PrimitiveString", "inputs": {"value": "a harbour at dawn, fishing boats, mist"}},
}


@pytest.mark.parametrize("chunks, expected", [
    ({"prompt": __import__("json").dumps(COMFY_API_GRAPH)},
     {"Generator": "ComfyUI", "Prompt": "a harbour at dawn, fishing boats, mist",
      "Negative prompt": "lowres, watermark",
      "Model": "sd_xl_base_1.0.safetensors", "Sampler": "euler", "Steps": "28", "Seed": "8675309",
      "Size": "1024x768"}),
    ({"parameters": "a harbour at dawn\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 5, "
                    "Seed: 42, Size: 832x1216, Model: juggernautXL, Version: v1.10.1"},
     {"Generator": "AUTOMATIC1111", "Prompt": "a harbour at dawn", "Negative prompt": "blurry",
      "Model": "juggernautXL", "Sampler": "DPM++ 2M", "Steps": "30", "Seed": "42", "Size": "832x1216"}),
    ({"Software": "NovelAI", "Source": "NovelAI Diffusion V3", "Description": "a harbour",
      "Comment": '{"prompt": "a harbour at dawn", "uc": "blurry", "steps": 28, "sampler": "k_euler", "seed": 7, '
                 '"scale": 5.0}'},
     {"Generator": "NovelAI", "Prompt": "a harbour at dawn", "Negative prompt": "blurry",
      "Model": "NovelAI Diffusion V3", "Sampler": "k_euler", "Steps": "28", "Seed": "7"}),
])
def test_the_recipe_is_read_from_each_generators_metadata(chunks, expected):
    from models.evidence.generator_metadata import read_generator_metadata
    from models.evidence.recipe import generation_recipe

    recipe = generation_recipe(read_generator_metadata(_png_with_text(chunks)))
    assert {k: recipe.get(k) for k in expected} == expected
    order = [k for k in recipe if k in expected]
    assert order == [k for k in ("Generator", "Prompt", "Negative prompt", "Model", "Sampler", "Steps", "Seed",
                                 "Size") if k in expected]


def test_each_file_finding_has_one_plain_wording_for_panels_and_reports():
    from models.evidence.finding_words import plain_finding

    edited = plain_finding(c2pa(credentials(None, "untrusted", edits=13)))
    assert edited.startswith("Signed by Adobe Inc.; the signature is intact; Adobe Inc. is not on your trust list")
    assert "edited ×13" in edited and "Made from: IMG_0042.CR3" in edited and "Adobe Photoshop 25.0" in edited
    broken = plain_finding(c2pa(credentials("digitalCapture", "trusted", intact=False)))
    assert "changed after signing" in broken and "cannot be relied upon" in broken
    assert "Such metadata can be copied" in plain_finding(COMFY)
    assert plain_finding(NO_WATERMARK).startswith("No known invisible watermark")
    for item in (CAMERA_EXIF, COMFY, WATERMARK, NO_WATERMARK):
        text = plain_finding(item)
        assert not any(term.lower() in text.lower() for term in BANNED_TERMS), text


def test_really_signed_content_credentials_read_in_plain_words(tmp_path):
    pytest.importorskip("c2pa")
    from models.evidence.c2pa_credentials import read_content_credentials
    from models.image_input import load_image
    from models.sample_images import camera_like_photo, encode
    from tests.test_c2pa_credentials import _make_pki, _sign

    pki, stranger = _make_pki("ZoomIn Test"), _make_pki("Someone Else")
    (tmp_path / "ours.pem").write_bytes(pki.ca_pem)
    (tmp_path / "theirs.pem").write_bytes(stranger.ca_pem)
    plain = encode(camera_like_photo(192, 256, seed=3))
    ai, capture = _sign(pki, plain, "trainedAlgorithmicMedia"), _sign(pki, plain, "digitalCapture")

    def reading_of(data: bytes, anchors) -> Analysis:
        return engine_analysis(read_content_credentials(load_image(data), anchors) + [signal("neither", 0.5)])

    made_with_ai = reading_of(ai, tmp_path / "ours.pem")
    assert made_with_ai.verdict == "ai-generated" and made_with_ai.reading.confidence == "provenance"
    assert made_with_ai.reading.headline.startswith("AI-generated: Content Credentials signed by")
    assert "declare it made with AI" in made_with_ai.reading.headline
    camera = reading_of(capture, tmp_path / "ours.pem")
    assert camera.verdict == "real" and "on your trust list" in camera.reading.headline
    unverified = reading_of(capture, tmp_path / "theirs.pem")
    assert unverified.verdict == "inconclusive" and "not on your trust list" in unverified.reading.headline
    assert any("the signature is intact" in p and "not on your trust list" in p for p in unverified.reading.key_points)


def test_names_from_the_file_stay_one_short_line_in_the_headline():
    sprawling = Evidence("metadata", "text:comfyui", "graph", "ai-generated", 0.95, True,
                         {"generator": "ComfyUI", "checkpoints": ["C:\\models\\" + "x" * 300 + ".safetensors"],
                          "samplers": [{"node": "KSampler", "seed": 1, "steps": 20}]})
    headline = engine_analysis([sprawling]).reading.headline
    assert len(headline) < 200 and "…" in headline
    signer = credentials("trainedAlgorithmicMedia", "trusted", signer="Evil\nCorp\r\n" + "y" * 200)
    headline = engine_analysis([c2pa(signer, "ai-generated", 0.97, True)]).reading.headline
    assert "\n" not in headline and "\r" not in headline and len(headline) < 200


ITEMS = [c2pa(credentials("trainedAlgorithmicMedia", "trusted"), "ai-generated", 0.97, True),
         c2pa(credentials("digitalCapture", "trusted"), "real", 0.95, True),
         c2pa(credentials("digitalCapture", "no-trust-list"), "real", 0.4),
         c2pa(credentials(None, "untrusted", edits=3)), c2pa(credentials("digitalCapture", "trusted", intact=False)),
         COMFY, WATERMARK, NO_WATERMARK, CAMERA_EXIF,
         Evidence("metadata", "text:parameters", "parameters in no known format", "ai-generated", 0.6, False,
                  {"text": "x"})]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(ITEMS), max_size=5, unique_by=id),
       st.sampled_from([None, ("ai-generated", 0.95), ("real", 0.04), ("neither", 0.5)]),
       st.lists(st.sampled_from([ODD, Region(Box(0, 0, 9, 9), 0.2, "no clear anomaly", id="r2")]), max_size=2))
def test_any_mix_of_evidence_reads_as_one_plain_sentence_agreeing_with_the_verdict(items, pixels, regions):
    evidence = list(items) + ([signal(*pixels)] if pixels else [])
    analysis = engine_analysis(evidence, regions)
    reading = analysis.reading
    assert reading.headline.startswith(VERDICT_SIGNS[analysis.verdict])
    assert len(reading.headline.split()) <= HEADLINE_MAX_WORDS and "\n" not in reading.headline
    assert 3 <= len(reading.key_points) <= 5
    assert (reading.figure is None) == (reading.confidence in ("provenance", "strong") or pixels is None)
    text = " ".join([reading.headline, reading.basis, reading.limits, *reading.key_points])
    assert not any(term.lower() in text.lower() for term in BANNED_TERMS), text


@pytest.mark.parametrize("model_id, shown", [("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"),
                                             ("/home/ann/zoomin/runs/grpo", "grpo"), ("C:\\models\\sft-3b", "sft-3b")])
def test_a_model_loaded_from_a_folder_is_named_without_its_install_path(model_id, shown):
    model = Evidence("model", f"local:{model_id}", "the model's verdict: generated", "ai-generated", 0.5,
                     details={"p_generated": None, "score_source": "fixed stand-in", "reasoning": ""})
    analysis = Analysis("x.jpg", "0" * 64, 1000, "JPEG", 100, 100, "ai-generated", 0.75, [], [model], "", "local", "t")
    headline = read_analysis(analysis).headline
    assert f"model {shown};" in headline and "home" not in headline and "C:" not in headline


def delivery(limit: str, reason: str) -> Evidence:
    return Evidence("signal", "delivery", f"delivery check: {reason}", "neither", 0.0, False,
                    {"blocks_pixel_call": True, "limits": [limit], "reasons": [reason]})


@pytest.mark.parametrize("limit, reason", [
    ("too-compressed", "the file is a heavily compressed JPEG (quality about 30), which wipes out the fine "
                       "pixel traces the model reads"),
    ("screen-capture", "the image looks like a screen capture (flat borders): its pixels describe the screen")])
def test_no_pixel_figure_beside_words_that_say_the_pixels_cannot_judge_the_file(limit, reason):
    """'Can't tell: ... the pixel analysis cannot judge it' beside 'AI likeness 0.02' read as camera-like."""
    reading = engine_analysis([signal("neither", 0.02), delivery(limit, reason), NO_WATERMARK]).reading
    assert "the pixel analysis cannot judge it" in reading.basis
    assert reading.figure is None and reading.figure_label == ""
    assert not any("0.02" in point for point in reading.key_points)


def test_a_pixel_lean_held_back_by_the_delivery_check_keeps_its_figure():
    """There the words name the lean ("leans AI, but ..."), and the number is the lean."""
    reading = engine_analysis([signal("ai-generated", 0.97), delivery("unstable", "the call does not hold up"),
                               NO_WATERMARK]).reading
    assert "the pixel analysis leans AI, but" in reading.basis
    assert reading.figure == pytest.approx(0.97)
