"""EXIF: the UserComment (decode_user_comment: charset header, UTF-16 in either
byte order) holding an infotext or Midjourney job, Software/Make/Model/Artist
and caption tags naming a generator or editor, xAI Grok's signature pair
(ImageDescription "Signature: ..." with a UUID Artist), and the camera weighing in
_camera (Make/Model with exposure, capture time, lens and GPS -> weak "real",
0.15-0.35; a camera with no exposure field -> "neither")."""

from __future__ import annotations

import re
from typing import Any

from models.evidence.generator_text import parse_infotext, recipe
from models.evidence.metadata_common import (
    FORGEABLE,
    MAX_PARAM_LINE,
    MAX_TEXT,
    MIDJOURNEY_JOB,
    ai_evidence,
    mostly_printable,
)
from models.evidence.tool_names import find_tool, named_tool
from models.evidence.topics import CAMERA_SOURCE
from models.image_input import LoadedImage
from models.types import Evidence

# EXIF tags (IFD0, Exif IFD, GPS IFD) this reader looks at.
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_TOOL_TAGS = {0x0131: "Software", 0x000B: "ProcessingSoftware", 0x010F: "Make", 0x0110: "Model", 0x013B: "Artist"}
_TEXT_TAGS = {0x010E: "ImageDescription", 0x8298: "Copyright", 0x9C9C: "XPComment", 0x9C9B: "XPTitle"}
_GROK_SIGNATURE = re.compile(r"Signature:\s*[A-Za-z0-9+/=_-]{16,}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_EXPOSURE_TAGS = {0x829A: "exposure_time", 0x829D: "f_number", 0x8827: "iso", 0x920A: "focal_length"}
_EXPOSURE_FORMAT = {"exposure_time": lambda v: f"1/{round(1 / v):g} s" if v < 0.5 else f"{v:g} s",
                    "f_number": lambda v: f"f/{v:g}", "iso": lambda v: f"ISO {v:g}",
                    "focal_length": lambda v: f"{v:g} mm"}


def decode_user_comment(raw: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset header, then text; None for binary junk."""
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, (bytes, bytearray)) and raw:
        raw = bytes(raw[:2 * MAX_TEXT])
        header, body = raw[:8], raw[8:]
        if header.startswith(b"UNICODE"):
            text = _decode_utf16(body)
        elif header.startswith(b"JIS"):
            text = body.decode("shift_jis", "replace")
        elif header.startswith(b"ASCII") or header == b"\0" * 8:
            text = body.decode("utf-8", "replace")  # many writers put UTF-8 behind the ASCII header
        else:
            text = raw.decode("utf-8", "replace")
    else:
        return None
    text = text.replace("\0", "").strip()
    return text if text and mostly_printable(text) else None


def _decode_utf16(body: bytes) -> str:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body.decode("utf-16", "replace")
    body = body[:len(body) // 2 * 2]
    # The spec leaves byte order open: A1111 writes big-endian, others follow the
    # EXIF byte order.  Mostly-Latin text has its zero bytes on the high side.
    big_endian = body[0::2].count(0) >= body[1::2].count(0)
    return body.decode("utf-16-be" if big_endian else "utf-16-le", "replace")


def exif_text(value: Any) -> str | None:
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        value = bytes(value)
    if isinstance(value, (bytes, bytearray)):
        # XP* tags are UTF-16LE; other byte strings are mostly ASCII/UTF-8.
        text = bytes(value).decode("utf-16-le" if value[1:2] == b"\0" else "utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        return None
    text = text.replace("\0", "").strip()
    return text[:MAX_PARAM_LINE] if text and mostly_printable(text) else None


def _number(value: Any) -> float | None:
    if isinstance(value, tuple) and len(value) == 1:  # ISO is sometimes stored as a one-element list
        value = value[0]
    try:
        number = float(value[0] / value[1]) if isinstance(value, tuple) and len(value) == 2 else float(value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if number == number and abs(number) != float("inf") and number > 0 else None


def read_exif(image: LoadedImage) -> list[Evidence]:
    exif = image.exif
    if not exif:
        return []
    found: list[Evidence] = []
    ifd0 = {tag: exif.get(tag) for tag in (*_TOOL_TAGS, *_TEXT_TAGS)}
    try:
        sub = dict(exif.get_ifd(_EXIF_IFD))
    except Exception:
        sub = {}
        found.append(Evidence("metadata", "exif", "The EXIF sub-directory is garbled and could not be read."))
    try:
        gps = dict(exif.get_ifd(_GPS_IFD))
    except Exception:
        gps = {}
    comment = decode_user_comment(sub.get(0x9286))
    if comment:
        infotext = parse_infotext(comment)
        if infotext:
            found.append(ai_evidence("exif:UserComment", f"EXIF UserComment written by {infotext['generator']}: "
                                     f"{recipe(infotext)}.", infotext))
        elif MIDJOURNEY_JOB.search(comment):
            found.append(ai_evidence("exif:UserComment", "EXIF UserComment holds a Midjourney prompt with its job "
                                     "ID.", {"generator": "Midjourney", "text": comment[:2000]}))
        else:
            found.extend(named_tool("exif:UserComment", "EXIF UserComment", comment, "caption"))
    for tag, name in _TOOL_TAGS.items():
        value = exif_text(ifd0.get(tag))
        if value:
            found.extend(named_tool(f"exif:{name}", f"EXIF {name}", value,
                                    "software" if name.endswith("Software") else "name"))
    grok = _grok(exif_text(ifd0.get(0x010E)), exif_text(ifd0.get(0x013B)))
    if grok:
        found.append(grok)
    for tag, name in _TEXT_TAGS.items():
        value = exif_text(ifd0.get(tag))
        if grok and name == "ImageDescription":
            continue
        if value and MIDJOURNEY_JOB.search(value):
            found.append(ai_evidence(f"exif:{name}", f"EXIF {name} holds a Midjourney prompt with its job ID.",
                                     {"generator": "Midjourney", "text": value[:2000]}))
        elif value:
            found.extend(named_tool(f"exif:{name}", f"EXIF {name}", value, "caption"))
    camera = _camera(ifd0, sub, gps)
    return found + ([camera] if camera else [])


def _grok(description: str | None, artist: str | None) -> Evidence | None:
    """xAI's Grok (Aurora) writes EXIF ImageDescription "Signature: <base64>" and a UUID as Artist."""
    if not description or not _GROK_SIGNATURE.match(description):
        return None
    details = {"generator": "Grok (xAI)", "signature": description[:200], "artist": artist}
    if artist and _UUID.fullmatch(artist.strip()):
        return ai_evidence("exif:ImageDescription", "EXIF ImageDescription holds a 'Signature: ...' and Artist a "
                           f"bare UUID ({artist.strip()}), the pair xAI's Grok writes into the images it generates.",
                           details, strength=0.9)
    return ai_evidence("exif:ImageDescription", "EXIF ImageDescription holds a 'Signature: ...' as xAI's Grok "
                       "writes it, but without Grok's UUID Artist field.", details, strength=0.5, decisive=False)


def _camera(ifd0: dict[int, Any], sub: dict[int, Any], gps: dict[int, Any]) -> Evidence | None:
    make, model = exif_text(ifd0.get(0x010F)), exif_text(ifd0.get(0x0110))
    if not (make or model) or find_tool(f"{make} {model}", ambiguous=False):
        return None
    exposure = {name: _number(sub.get(tag)) for tag, name in _EXPOSURE_TAGS.items()}
    exposure = {k: round(v, 6) for k, v in exposure.items() if v is not None}
    captured = exif_text(sub.get(0x9003))
    lens = exif_text(sub.get(0xA434))
    lens = None if (lens or "").lower() in ("", "n/a", "unknown", "-", "none") else lens
    has_gps = any(tag in gps for tag in (1, 2, 3, 4))
    same_prefix = make and model and model.lower().startswith(make.lower())
    camera = model if same_prefix else " ".join(x for x in (make, model) if x)
    details = {"make": make, "model": model, "captured": captured, "lens": lens, "gps": has_gps,
               "software": exif_text(ifd0.get(0x0131)), **exposure}
    if not exposure:
        return Evidence("metadata", CAMERA_SOURCE, f"EXIF names a camera ({camera}) but records no exposure "
                        "settings (exposure time, aperture, ISO, focal length): cameras write these, while software "
                        "that copies or invents EXIF often does not." + FORGEABLE, details=details)
    strength = 0.15 + 0.025 * len(exposure) + (0.05 if captured else 0) + (0.03 if has_gps else 0) \
        + (0.02 if lens else 0)
    settings = ", ".join(_EXPOSURE_FORMAT[k](v) for k, v in exposure.items())
    finding = (f"EXIF camera metadata: {camera}" + (f", captured {captured}" if captured else "")
               + (f", lens {lens}" if lens else "") + f", {settings}" + (", GPS position present" if has_gps else "")
               + ". Weak support for a real photo: EXIF is easily forged or copied from another photo, and most "
               "shared images have it stripped.")
    return Evidence("metadata", CAMERA_SOURCE, finding, supports="real", strength=min(0.35, strength), details=details)
