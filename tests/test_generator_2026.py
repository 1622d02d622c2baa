"""2026's generator metadata: xAI Grok's EXIF signature pair, Ideogram's EXIF
Make, Civitai's additions to A1111 infotext, Draw Things' XMP UserComment JSON
and the newer names in the tool table; files made here."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, PngImagePlugin

from models.evidence.generator_metadata import read_generator_metadata
from models.evidence.tool_names import find_tool
from models.image_input import load_image

UUID = "3f2b8c1e-9a4d-4e6f-b1c2-7d8e9f0a1b2c"
CIVITAI = ("portrait of a sailor, <lora:detail:0.6>\nNegative prompt: lowres\n"
           "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5, Seed: 991, Size: 64x48, "
           "Clip skip: 2, Created Date: 2026-03-01T10:00:00.000Z, "
           'Civitai resources: [{"type":"checkpoint","modelVersionId":351306,"modelName":"DreamShaper XL",'
           '"modelVersionName":"v2.1 Turbo"},{"type":"lora","weight":0.6,"modelVersionId":87153,'
           '"modelName":"Detail, Tweaker"}], Civitai metadata: {"remixOfId": 123}')


def _jpeg(ifd0: dict[int, object], exif_ifd: dict[int, object] | None = None) -> bytes:
    exif = Image.Exif()
    for tag, value in ifd0.items():
        exif[tag] = value
    if exif_ifd:
        exif.get_ifd(0x8769).update(exif_ifd)
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).convert("RGB").save(out, "JPEG", exif=exif)
    return out.getvalue()


def _read(data: bytes):
    found = read_generator_metadata(load_image(data))
    for item in found:
        json.dumps(item.to_dict())
    return found


def test_grok_signature_and_uuid_artist_decide():
    found = _read(_jpeg({0x010E: "Signature: " + "QmFzZTY0U2lnbmF0dXJlRnJvbUdyb2s" * 2, 0x013B: UUID}))
    grok = next(e for e in found if e.details.get("generator") == "Grok (xAI)")
    assert grok.decisive and grok.supports == "ai-generated" and UUID in grok.finding
    assert "can be forged" in grok.finding


def test_grok_signature_without_the_uuid_only_supports():
    found = _read(_jpeg({0x010E: "Signature: QmFzZTY0U2lnbmF0dXJlRnJvbUdyb2s=", 0x013B: "Jane Doe"}))
    grok = next(e for e in found if e.details.get("generator") == "Grok (xAI)")
    assert not grok.decisive and grok.strength == 0.5


def test_a_caption_starting_with_signature_words_is_not_grok():
    assert not any(e.details.get("generator") == "Grok (xAI)"
                   for e in _read(_jpeg({0x010E: "Signature: J. Smith", 0x013B: UUID})))


def test_ideogram_make_is_a_generator_not_a_camera():
    found = _read(_jpeg({0x010F: "Ideogram", 0x0110: "Ideogram 3.0"}, {0x829A: (1, 100)}))
    assert any(e.decisive and e.details.get("generator") == "Ideogram" for e in found)
    assert not any(e.source == "exif:camera" for e in found)


def test_civitai_infotext_keeps_its_resources_and_settings():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", CIVITAI)
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "PNG", pnginfo=info)
    item = next(e for e in _read(out.getvalue()) if e.source == "text:parameters")
    details = item.details
    assert item.decisive and details["generator"] == "Civitai (A1111-compatible infotext)"
    assert details["seed"] == "991" and details["sampler"] == "DPM++ 2M" and details["size"] == "64x48"
    assert [r["modelName"] for r in details["civitai_resources"]] == ["DreamShaper XL", "Detail, Tweaker"]
    assert details["civitai_metadata"] == {"remixOfId": 123} and details["model"] == "DreamShaper XL"


def test_civitai_hashes_field_and_broken_json_do_not_break_the_line():
    text = CIVITAI.replace("Civitai resources: [", "Civitai resources: [{broken") + ', Hashes: {"model": "abc"}'
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "PNG", pnginfo=info)
    item = next(e for e in _read(out.getvalue()) if e.source == "text:parameters")
    assert item.decisive and item.details["seed"] == "991" and item.details["hashes"] == {"model": "abc"}


@pytest.mark.parametrize("creator, generator", [("Draw Things", "Draw Things"),
                                                (None, "an image generator (Draw Things' format)")])
def test_draw_things_xmp_user_comment(creator, generator):
    settings = {"c": "a red kite over dunes", "uc": "text", "model": "flux_1_schnell_q5p.ckpt", "sampler": "Euler A",
                "seed": 2718, "steps": 8, "scale": 1, "size": "64x48"}
    tool = f"<xmp:CreatorTool>{creator}</xmp:CreatorTool>" if creator else ""
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
           f'xmlns:xmp="http://ns.adobe.com/xap/1.0/">{tool}<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
           + json.dumps(settings).replace("&", "&amp;").replace("<", "&lt;")
           + "</rdf:li></rdf:Alt></exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>")
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "JPEG", xmp=xmp.encode())
    item = next(e for e in _read(out.getvalue()) if e.source == "xmp:UserComment")
    assert item.decisive and item.details["generator"] == generator and item.details["seed"] == 2718
    assert "flux_1_schnell" in item.finding


@pytest.mark.parametrize("text, name", [("Doubao", "Doubao"), ("Hunyuan Image 3.0", "Tencent Hunyuan"),
                                        ("made with Kling AI", "Kling"), ("Wan 2.2", "Wan"),
                                        ("Tongyi Wanxiang 2.1", "Tongyi Wanxiang"), ("Canon EOS R5", None)])
def test_newer_generators_are_in_the_table(text, name):
    assert find_tool(text, ambiguous=False) == name
