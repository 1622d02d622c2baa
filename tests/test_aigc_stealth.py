"""China's AIGC label (XMP, PNG text, EXIF; every Label value, entity-encoded
or not) and stealth metadata in alpha and RGB low bits (plain and gzip, wrong
lengths, truncations), on images made here and read through the real loader."""

from __future__ import annotations

import gzip
import html
import io
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from models.evidence.aigc_label import parse_label
from models.evidence.generator_metadata import read_generator_metadata
from models.evidence.stealth_metadata import decode_payload
from models.image_input import load_image

LABEL = {"Label": "1", "ContentProducer": "001191110108MA01KP2T5U00000", "ProduceID": "doubao-20260901-0042",
         "ReservedCode1": "", "ContentPropagator": "Example Platform", "PropagateID": "post-7", "ReservedCode2": ""}
INFOTEXT = ("a lighthouse at dusk\nNegative prompt: blurry\n"
            "Steps: 28, Sampler: Euler a, CFG scale: 6, Seed: 42, Size: 96x64, Model: dreamshaper_8, Version: v1.10.1")


def _xmp(value: str, form: str = "attribute") -> bytes:
    body = (f'<rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" '
            f'TC260:AIGC="{value}"/>' if form == "attribute" else
            '<rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">'
            f"<TC260:AIGC>{value}</TC260:AIGC></rdf:Description>")
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' + body
            + '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def _picture(mode: str = "RGB", size=(96, 64)) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8), mode)


def _jpeg_with_xmp(xmp: bytes) -> bytes:
    out = io.BytesIO()
    _picture().save(out, "JPEG", xmp=xmp)
    return out.getvalue()


def _png(text: dict[str, str] | None = None, xmp: bytes | None = None, image: Image.Image | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    if xmp:
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    out = io.BytesIO()
    (image or _picture()).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _jpeg_with_exif(tag: int, value, sub: bool = False) -> bytes:
    exif = Image.Exif()
    if sub:
        exif.get_ifd(0x8769)[tag] = value
    else:
        exif[tag] = value
    out = io.BytesIO()
    _picture().save(out, "JPEG", exif=exif)
    return out.getvalue()


def _aigc(data: bytes):
    items = [e for e in read_generator_metadata(load_image(data)) if e.source.startswith("aigc:")]
    assert len(items) <= 1
    for item in items:
        json.dumps(item.to_dict())
        assert "can be forged" in item.finding
    return items[0] if items else None


@pytest.mark.parametrize("label, decisive, meaning", [("1", True, "AI-generated"), ("2", False, "possibly"),
                                                      ("3", False, "suspected"), ("7", False, "not one of")])
def test_every_label_value_in_jpeg_xmp(label, decisive, meaning):
    value = html.escape(json.dumps({**LABEL, "Label": label}, ensure_ascii=False))
    item = _aigc(_jpeg_with_xmp(_xmp(value)))
    assert item.source == "aigc:xmp" and item.supports == "ai-generated" and item.decisive is decisive
    assert meaning in item.finding and "001191110108MA01KP2T5U00000" in item.finding
    assert item.details["aigc_label"]["ProduceID"] == "doubao-20260901-0042"
    assert item.strength == (0.95 if decisive else item.strength) and (decisive or item.strength <= 0.5)


def test_double_entity_encoded_element_in_png_itxt_xmp():
    value = html.escape(html.escape(json.dumps(LABEL)))
    item = _aigc(_png(xmp=_xmp(value, form="element")))
    assert item is not None and item.decisive and item.details["carrier"] == "xmp"


def test_png_text_chunk_and_exif_carriers_agree_and_are_merged():
    item = _aigc(_png(text={"AIGC": json.dumps(LABEL)}, xmp=_xmp(html.escape(json.dumps(LABEL)))))
    assert item.decisive and item.details["also_found_in"] == ["text:AIGC"]
    assert _aigc(_png(text={"AIGC": json.dumps({**LABEL, "Label": "2"})})).details["label_code"] == "2"


@pytest.mark.parametrize("tag, sub, wrap", [(0x9286, True, True), (0x010E, False, False), (0x010E, False, True)])
def test_exif_carriers(tag, sub, wrap):
    payload = json.dumps({"AIGC": LABEL} if wrap else LABEL)
    value = b"ASCII\0\0\0" + payload.encode() if tag == 0x9286 else payload
    item = _aigc(_jpeg_with_exif(tag, value, sub))
    assert item is not None and item.decisive and item.source.startswith("aigc:exif:")


@pytest.mark.parametrize("raw", ["", "{not json", "[1, 2]", '{"Title": "x"}', "&amp;" * 50, '"\\"nested\\""',
                                 json.dumps({"AIGC": "not json"})])
def test_what_is_not_a_label_is_ignored(raw):
    assert parse_label(raw) is None


def test_a_label_that_says_nothing_is_supporting_only():
    item = _aigc(_png(text={"AIGC": json.dumps({"ContentProducer": "x"})}))
    assert not item.decisive and "no Label value" in item.finding


# ---------------------------------------------------------------------- stealth metadata

def _bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def _stealth_png(magic: str, payload: bytes, *, length: int | None = None, cut: int | None = None,
                 size=(96, 64)) -> bytes:
    compressed = magic.endswith("comp")
    body = gzip.compress(payload) if compressed else payload
    stream = _bits(magic.encode() + (length if length is not None else len(body) * 8).to_bytes(4, "big") + body)
    if cut is not None:
        stream = stream[:cut]
    alpha = "png" in magic
    image = np.array(_picture("RGBA" if alpha else "RGB", size))
    width, height = size
    channels = image[:, :, 3:4] if alpha else image[:, :, :3]
    flat = np.ascontiguousarray(channels.transpose(1, 0, 2)).reshape(-1)  # column-major, like the writers
    assert stream.size <= flat.size, "fixture too large for the picture"
    flat[:stream.size] = (flat[:stream.size] & 0xFE) | stream
    restored = flat.reshape(width, height, channels.shape[2]).transpose(1, 0, 2)
    if alpha:
        image[:, :, 3:4] = restored
    else:
        image[:, :, :3] = restored
    out = io.BytesIO()
    Image.fromarray(image).save(out, "PNG")
    return out.getvalue()


def _stealth(data: bytes):
    items = [e for e in read_generator_metadata(load_image(data)) if e.source.startswith("stealth:")]
    assert len(items) <= 1
    for item in items:
        json.dumps(item.to_dict())
    return items[0] if items else None


@pytest.mark.parametrize("magic", ["stealth_pnginfo", "stealth_pngcomp", "stealth_rgbinfo", "stealth_rgbcomp"])
def test_infotext_hidden_in_alpha_or_rgb_is_decisive(magic):
    item = _stealth(_stealth_png(magic, INFOTEXT.encode()))
    assert item.source == f"stealth:{magic}" and item.decisive and item.supports == "ai-generated"
    assert item.details["seed"] == "42" and "dreamshaper_8" in item.finding and not item.details["problems"]


def test_novelai_json_in_alpha():
    novelai = json.dumps({"Software": "NovelAI", "Source": "NovelAI Diffusion V4", "Comment": json.dumps(
        {"prompt": "a fox", "steps": 28, "sampler": "k_euler", "seed": 7})})
    item = _stealth(_stealth_png("stealth_pngcomp", novelai.encode()))
    assert item.decisive and item.details["generator"] == "NovelAI" and item.details["seed"] == 7


@pytest.mark.parametrize("magic", ["stealth_pnginfo", "stealth_pngcomp"])
def test_a_length_longer_than_the_image_is_survived(magic):
    item = _stealth(_stealth_png(magic, INFOTEXT.encode(), length=10 ** 9))
    assert item is not None and not item.decisive and item.supports == "ai-generated"
    assert "length field says" in " ".join(item.details["problems"])


@pytest.mark.parametrize("magic, cut", [("stealth_pnginfo", 15 * 8 + 10), ("stealth_pngcomp", 15 * 8 + 32 + 200),
                                        ("stealth_rgbcomp", 15 * 8 + 32 + 40), ("stealth_rgbinfo", 15 * 8 + 32 + 60)])
def test_truncated_streams_are_survived(magic, cut):
    item = _stealth(_stealth_png(magic, INFOTEXT.encode() * 3, cut=cut))
    assert item is not None and not item.decisive and item.details["problems"]


def test_a_corrupt_gzip_stream_is_a_note():
    text, problems = decode_payload(_bits((80).to_bytes(4, "big") + b"\x1f\x8b" + b"\x00" * 8), compressed=True)
    assert text is None and any("gzip" in p for p in problems)


def test_odd_length_and_binary_payload_do_not_raise():
    text, problems = decode_payload(_bits((13).to_bytes(4, "big") + b"\xff\xfe"), compressed=False)
    assert text is None and problems


def test_plain_pictures_and_jpegs_carry_no_stealth_metadata():
    assert _stealth(_png(image=_picture("RGBA"))) is None
    assert _stealth(_jpeg_with_xmp(b"")) is None


def test_the_label_in_plain_words():
    from models.evidence.finding_words import evidence_phrase, plain_finding

    decided = _aigc(_png(text={"AIGC": json.dumps(LABEL)}))
    assert evidence_phrase(decided).startswith("the file carries China's label for AI-generated content")
    possible = _aigc(_png(text={"AIGC": json.dumps({**LABEL, "Label": "2"})}))
    assert "possibly AI-generated; that supports AI without deciding it" in plain_finding(possible)


def test_a_possible_label_is_named_in_the_headline_of_an_open_verdict():
    from tests.test_reading import engine_analysis

    item = _aigc(_jpeg_with_xmp(_xmp(html.escape(json.dumps({**LABEL, "Label": "3"})))))
    analysis = engine_analysis([item])
    assert analysis.verdict == "inconclusive"
    assert "China's AI-content label calls it suspected to be AI-generated" in analysis.reading.headline
