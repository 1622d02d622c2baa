"""China's mandatory implicit label for AI-generated content (GB 45438-2025,
drafted by TC260), as Doubao, Kling, Qwen, Hunyuan and Chinese platforms
write it into image files.

The label is JSON with the fields Label, ContentProducer, ProduceID,
ReservedCode1, ContentPropagator, PropagateID and ReservedCode2.  Carriers
read here (the standard lets a provider choose the file's own metadata):

- XMP property TC260:AIGC (namespace http://www.tc260.org.cn/ns/AIGC/1.0/) in
  JPEG APP1, PNG's XMP iTXt chunk, WebP or TIFF, as an attribute or element;
- a PNG/WebP text chunk named AIGC;
- EXIF UserComment, ImageDescription or XPComment holding the JSON, bare or
  under an "AIGC" key.

The JSON is often entity-encoded (&quot; ... once or twice over); it is
unescaped a bounded number of times.

Label values, from the standard (section on the generation-synthesis label
element, value1): "1" the content IS AI-generated or synthesised, "2" it is
POSSIBLY AI-generated, "3" it is SUSPECTED to be AI-generated.  Weighing (kind
"metadata", source "aigc:<carrier>"):

- Label 1 -> "ai-generated", decisive, 0.95, like an XMP DigitalSourceType
  declaration; the finding names the producer and the content ID;
- Label 2 or 3 (a platform's guess) -> "ai-generated", not decisive, 0.5 / 0.4;
- any other or missing Label -> "ai-generated", not decisive, 0.3 (supporting only).

Like all metadata, the label can be forged or stripped (FORGEABLE).
"""

from __future__ import annotations

import html
import re
from typing import Any

from models.evidence.camera_exif import decode_user_comment, exif_text
from models.evidence.metadata_common import MAX_TEXT, ai_evidence, load_json
from models.image_input import LoadedImage
from models.types import Evidence

NAMESPACE = "http://www.tc260.org.cn/ns/AIGC/1.0/"
FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
          "ReservedCode2")
LABELS = {"1": ("AI-generated", 0.95, True), "2": ("possibly AI-generated", 0.5, False),
          "3": ("suspected to be AI-generated", 0.4, False)}
_MAX_VALUE = 20_000
_MAX_UNESCAPE = 3
# XMP forms: TC260:AIGC="..." (attribute, any prefix bound to the namespace) and <TC260:AIGC>...</...>.
_XMP_ATTRIBUTE = re.compile(r"(?<![\w-])(?:[\w-]{1,40}:)?AIGC\s*=\s*(\"[^\"]{0,20000}\"|'[^']{0,20000}')")
_XMP_ELEMENT = re.compile(r"<(?:[\w-]{1,40}:)?AIGC(?:\s[^<>]{0,200})?>\s*([^<]{1,20000}?)\s*</(?:[\w-]{1,40}:)?AIGC>")
_EXIF_TEXT_TAGS = {0x010E: "ImageDescription", 0x9C9C: "XPComment"}


def read_aigc_label(image: LoadedImage) -> list[Evidence]:
    """One finding for the label, however many carriers repeat it (the others in also_found_in)."""
    found: list[tuple[str, dict[str, str]]] = []
    for carrier, raw in _candidates(image):
        label = parse_label(raw)
        if label is not None:
            found.append((carrier, label))
    if not found:
        return []
    carrier, label = found[0]
    item = _weigh(carrier, label)
    others = [c for c, other in found[1:] if c != carrier]
    if others:
        item.details["also_found_in"] = list(dict.fromkeys(others))
    differing = [c for c, other in found[1:] if other.get("Label") != label.get("Label")]
    if differing:
        item.details["conflicting_carriers"] = differing
    return [item]


def parse_label(raw: str) -> dict[str, str] | None:
    """The label's fields from its JSON text (entity-encoded or not), or None if it is not a label."""
    text = raw[:_MAX_VALUE].strip()
    for _ in range(_MAX_UNESCAPE + 1):
        data = load_json(text)
        if isinstance(data, str):  # JSON wrapped as a JSON string
            text = data
            continue
        if isinstance(data, dict):
            break
        unescaped = html.unescape(text)
        if unescaped == text:
            return None
        text = unescaped.strip()
    else:
        return None
    if isinstance(data.get("AIGC"), (dict, str)):
        inner = data["AIGC"]
        data = inner if isinstance(inner, dict) else (parse_label(inner) or {})
    if not isinstance(data, dict) or not ({"Label", "ContentProducer", "ProduceID"} & set(data)):
        return None
    return {key: str(data[key])[:300] for key in FIELDS if data.get(key) not in (None, "")}


def _candidates(image: LoadedImage) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if image.xmp and b"AIGC" in image.xmp:
        packet = image.xmp[:MAX_TEXT].decode("utf-8", "replace")
        for match in _XMP_ATTRIBUTE.finditer(packet):
            found.append(("xmp", html.unescape(match.group(1)[1:-1])))  # XML attribute decoding
        for match in _XMP_ELEMENT.finditer(packet):
            found.append(("xmp", html.unescape(match.group(1))))
    for key, value in image.text_chunks.items():
        if key.strip().lower() == "aigc" and isinstance(value, str):
            found.append((f"text:{key}", value))
    if image.exif:
        try:
            sub = dict(image.exif.get_ifd(0x8769))
        except Exception:
            sub = {}
        comment = decode_user_comment(sub.get(0x9286))
        if comment and "Label" in comment:
            found.append(("exif:UserComment", comment))
        for tag, name in _EXIF_TEXT_TAGS.items():
            value = exif_text(image.exif.get(tag))
            if value and "Label" in value:
                found.append((f"exif:{name}", value))
    return found


def _weigh(carrier: str, label: dict[str, str]) -> Evidence:
    code = label.get("Label", "")
    meaning, strength, decisive = LABELS.get(code, ("of an unknown kind", 0.3, False))
    producer = label.get("ContentProducer")
    where = {"xmp": "XMP property TC260:AIGC"}.get(carrier, carrier.replace("text:", "text chunk ")
                                                    .replace("exif:", "EXIF "))
    details: dict[str, Any] = {"aigc_label": label, "label_code": code or None, "label_meaning": meaning,
                               "carrier": carrier}
    if producer:
        details["generator"] = producer
    ids = f", content ID {label['ProduceID']!r}" if label.get("ProduceID") else ""
    by = f" by the producer {producer!r}{ids}" if producer else ids
    spread = f"; passed on by {label['ContentPropagator']!r}" if label.get("ContentPropagator") else ""
    if code in LABELS:
        said = f"Label {code}: {meaning}"
    else:
        said = (f"Label {code!r}, which is not one of the standard's codes (1 AI-generated, 2 possibly, "
                "3 suspected)" if code else "no Label value")
    finding = (f"{where} holds China's AI-generated content label (GB 45438-2025 / TC260), written{by}{spread}: "
               f"{said}.")
    if not decisive:
        finding += " It supports AI generation without deciding it."
    return ai_evidence(f"aigc:{carrier}", finding, details, strength=strength, decisive=decisive)
