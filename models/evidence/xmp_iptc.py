"""XMP and IPTC-IIM.  read_xmp_fields parses the XMP packet with ElementTree
(DTDs refused, bounded patterns for packets it rejects) and read_xmp weighs
DigitalSourceType, AISystemUsed, CreatorTool, Midjourney descriptions, Draw Things'
settings in exif:UserComment and a
dcterms:provenance pointing at stripped Content Credentials; read_iptc_fields
walks the Photoshop 0x0404 IPTC block and read_iptc weighs its program, name
and caption datasets."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ElementTree

from models.evidence.c2pa_credentials import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES
from models.evidence.generator_text import parse_infotext, recipe
from models.evidence.metadata_common import (
    FORGEABLE,
    MAX_PARAM_LINE,
    MIDJOURNEY_JOB,
    ai_evidence,
    load_json,
    scalar,
)
from models.evidence.source_types import source_words
from models.evidence.tool_names import named_tool
from models.image_input import LoadedImage
from models.types import Evidence

MAX_XMP = 2_000_000

# XMP properties read, by local name (namespaces vary between writers).
_XMP_NAMES = ("DigitalSourceType", "AISystemUsed", "AISystemVersionUsed", "AIPromptInformation", "CreatorTool",
              "provenance", "description", "UserComment")
_RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
_XMP_NAME_GROUP = "(" + "|".join(_XMP_NAMES) + ")"
# Fallback patterns for packets ElementTree rejects: attribute, element text and
# rdf:resource forms.  Every repetition is bounded so hostile input stays linear.
_XMP_PATTERNS = (
    re.compile(r"(?<=[:\s])" + _XMP_NAME_GROUP + r"\s*=\s*\"([^\"<>]{0,2000})\""),
    re.compile(r"<(?:[\w-]{1,40}:)?" + _XMP_NAME_GROUP + r"(?:\s[^<>]{0,200})?>([^<]{1,2000})<"),
    re.compile(r"<(?:[\w-]{1,40}:)?" + _XMP_NAME_GROUP + r"\s[^<>]{0,200}?rdf:resource\s*=\s*\"([^\"<>]{0,2000})\""),
)


def read_xmp_fields(packet: bytes) -> tuple[dict[str, list[str]], str | None]:
    """The interesting XMP properties and a note when the packet had to be read by pattern.

    DTDs are refused outright (no entity expansion); a packet ElementTree cannot
    parse is scanned with a regular expression instead."""
    fields: dict[str, list[str]] = {name: [] for name in _XMP_NAMES}
    packet = packet[:MAX_XMP]
    start = packet.find(b"<")
    text = packet[max(start, 0):].decode("utf-8", "replace")
    note = None
    if re.search(r"<!(?:DOCTYPE|ENTITY)", text, re.I):
        note = "the XMP packet declares a DTD, which is refused; it was read by pattern matching"
    else:
        try:
            root = ElementTree.fromstring(text)
        except (ElementTree.ParseError, ValueError) as exc:
            note = f"the XMP packet is malformed ({str(exc)[:120]}); it was read by pattern matching"
        else:
            for element in root.iter():
                for attribute, value in element.attrib.items():
                    if attribute.rsplit("}", 1)[-1] in fields:
                        fields[attribute.rsplit("}", 1)[-1]].append(value.strip())
                name = str(element.tag).rsplit("}", 1)[-1]
                if name in fields:
                    values = [e.text.strip() for e in element.iter() if e.text and e.text.strip()]
                    values += [e.get(_RDF_RESOURCE) for e in element.iter() if e.get(_RDF_RESOURCE)]
                    fields[name].extend(values)
            return {k: list(dict.fromkeys(v))[:20] for k, v in fields.items() if v}, None
    for pattern in _XMP_PATTERNS:
        for name, value in pattern.findall(text):
            if value.strip():
                fields[name].append(value.strip())
    return {k: list(dict.fromkeys(v))[:20] for k, v in fields.items() if v}, note


def read_xmp(image: LoadedImage) -> list[Evidence]:
    if not image.xmp:
        return []
    fields, note = read_xmp_fields(image.xmp)
    found: list[Evidence] = []
    details = {"xmp": fields, **({"note": note} if note else {})}
    for uri in fields.get("DigitalSourceType", []):
        code = uri.rstrip("/").rsplit("/", 1)[-1]
        label = f"XMP Iptc4xmpExt:DigitalSourceType declares '{code}'"
        if code in AI_SOURCE_TYPES:
            found.append(ai_evidence("xmp:DigitalSourceType", f"{label}: the IPTC code for AI-generated or "
                                     "AI-composited media.", {**details, "digital_source_type": uri}))
        elif code in CAPTURE_SOURCE_TYPES:
            found.append(Evidence("metadata", "xmp:DigitalSourceType", f"{label} (a camera capture): weak support, "
                                  "since anyone can write this field." + FORGEABLE, supports="real", strength=0.2,
                                  details={**details, "digital_source_type": uri}))
        else:
            words = source_words(code)
            meaning = f" ({words})" if words else " (not a code of the IPTC vocabulary)"
            found.append(Evidence("metadata", "xmp:DigitalSourceType", f"{label}{meaning}, which is neither a camera "
                                  "capture nor AI generation." + FORGEABLE,
                                  details={**details, "digital_source_type": uri}))
    systems = fields.get("AISystemUsed", [])
    if systems:
        found.append(ai_evidence("xmp:AISystemUsed", f"XMP Iptc4xmpExt:AISystemUsed names the AI system "
                                 f"{systems[0]!r}.", details))
    # Settings first: a CreatorTool naming the same tool is merged into them (also_found_in).
    for comment in fields.get("UserComment", [])[:3]:
        found.extend(_user_comment(comment, fields, details))
    for tool in fields.get("CreatorTool", []):
        found.extend(named_tool("xmp:CreatorTool", "XMP CreatorTool", tool, "software"))
    for description in fields.get("description", []):
        if MIDJOURNEY_JOB.search(description):
            found.append(ai_evidence("xmp:description", "XMP description holds a Midjourney prompt with its job ID.",
                                     details))
    # The manifest store is a JUMBF box labelled with the C2PA UUID, which starts "c2pa".
    if any(p.startswith("self#jumbf=") for p in fields.get("provenance", [])) and b"jumdc2pa" not in image.data:
        found.append(Evidence("metadata", "xmp:provenance", "XMP dcterms:provenance points to Content Credentials "
                              "embedded in this file, but no C2PA manifest is left in it: they were stripped, "
                              "typically by re-saving or editing.", details=details))
    if note and not found:
        found.append(Evidence("metadata", "xmp", f"XMP could not be parsed cleanly: {note}.", details=details))
    return found


def _user_comment(comment: str, fields: dict[str, list[str]], details: dict) -> list[Evidence]:
    """XMP exif:UserComment: Draw Things writes its settings there as JSON (prompt "c", negative "uc",
    model, sampler, seed, steps, scale, size); others put an A1111 infotext there."""
    infotext = parse_infotext(comment)
    if infotext:
        return [ai_evidence("xmp:UserComment", f"XMP exif:UserComment written by {infotext['generator']}: "
                            f"{recipe(infotext)}.", {**details, **infotext})]
    data = load_json(comment)
    if not isinstance(data, dict) or not ({"c", "prompt"} & set(data) and {"sampler", "steps", "seed"} & set(data)):
        return []
    named = any("draw things" in tool.lower() for tool in fields.get("CreatorTool", []))
    params = {"generator": "Draw Things" if named else "an image generator (Draw Things' format)",
              "model": scalar(data.get("model")), "sampler": scalar(data.get("sampler")),
              "seed": scalar(data.get("seed")), "steps": scalar(data.get("steps")),
              "cfg_scale": scalar(data.get("scale")), "size": scalar(data.get("size")),
              "prompt": str(data.get("c") or data.get("prompt") or "")[:2000],
              "negative_prompt": str(data.get("uc") or "")[:2000]}
    return [ai_evidence("xmp:UserComment", f"XMP exif:UserComment holds settings written by {params['generator']}: "
                        f"{recipe(params)}.", {**details, **params})]


_IPTC_DATASETS = {65: "originating program", 80: "by-line", 105: "headline", 110: "credit", 115: "source",
                  120: "caption"}
_IPTC_FIELD_KINDS = {"originating program": "software", "by-line": "name", "credit": "name", "source": "name",
                     "headline": "caption", "caption": "caption"}


def read_iptc_fields(block: bytes) -> dict[str, str]:
    """IPTC-IIM record 2 datasets from a Photoshop 0x0404 resource, bounds-checked."""
    fields: dict[str, str] = {}
    i = 0
    while i + 5 <= len(block) and block[i] == 0x1C:
        record, dataset, length = block[i + 1], block[i + 2], struct.unpack(">H", block[i + 3:i + 5])[0]
        if length & 0x8000:  # extended lengths are only used for huge binary datasets
            break
        value = block[i + 5:i + 5 + length]
        if record == 2 and dataset in _IPTC_DATASETS:
            name = _IPTC_DATASETS[dataset]
            fields[name] = (fields.get(name, "") + " " + value.decode("utf-8", "replace")).strip()[:MAX_PARAM_LINE]
        i += 5 + length
    return fields


def read_iptc(image: LoadedImage) -> list[Evidence]:
    photoshop = image.info.get("photoshop")
    block = photoshop.get(0x0404) if isinstance(photoshop, dict) else None
    if not isinstance(block, (bytes, bytearray)):
        return []
    found: list[Evidence] = []
    for name, value in read_iptc_fields(bytes(block)).items():
        if MIDJOURNEY_JOB.search(value):
            found.append(ai_evidence(f"iptc:{name}", f"IPTC {name} holds a Midjourney prompt with its job ID.",
                                     {"generator": "Midjourney", "text": value[:2000]}))
        else:
            found.extend(named_tool(f"iptc:{name}", f"IPTC {name}", value, _IPTC_FIELD_KINDS[name]))
    return found
