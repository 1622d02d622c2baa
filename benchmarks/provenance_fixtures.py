"""The provenance fixture table for docs/provenance.md: each kind of file the
provenance readers must get right, the state expected, and what the engine
says (its reader finding, verdict and headline).

    .venv/bin/python benchmarks/provenance_fixtures.py [--markdown]

Every file is made here, in memory, with the same builders the tests use:
C2PA manifests signed with a throwaway test CA that is added to the trust
list (ZOOMIN_C2PA_TRUST_ANCHORS) for "listed" fixtures and a second CA that
is on no list for "unlisted" ones; AIGC labels, stealth metadata and EXIF
written with Pillow.  The whole evidence engine analyses each file.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.image_input import load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode  # noqa: E402
from tests.test_aigc_stealth import INFOTEXT, LABEL, _jpeg_with_exif, _jpeg_with_xmp, _png, _stealth_png, _xmp  # noqa: E402
from tests.test_c2pa_chain import _break_signature, _manifest, _sign  # noqa: E402
from tests.test_c2pa_credentials import IPTC, _make_pki  # noqa: E402
from tests.test_generator_2026 import CIVITAI, UUID  # noqa: E402
from tests.test_generator_2026 import _jpeg as _exif_jpeg  # noqa: E402


def fixtures() -> tuple[list[tuple[str, str, Callable[[], bytes]]], bytes]:
    """(kind, expected, builder) per fixture, and the PEM of the CA put on the trust list."""
    listed, unlisted = _make_pki("Listed Newsroom"), _make_pki("Unlisted Signer")
    photo = encode(camera_like_photo(192, 256, seed=21))

    def created(pki, source: str) -> bytes:
        return _sign(pki, photo, _manifest({"action": "c2pa.created", "digitalSourceType": IPTC + source}))

    capture = created(listed, "digitalCapture")
    parent = {"title": "camera-original.jpg", "relationship": "parentOf", "label": "parent"}
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}

    def data_hash_mismatch() -> bytes:
        data = bytearray(capture)
        index = data.rfind(b"\xff\xda") + 300
        while 0xFF in data[index - 1:index + 2]:
            index += 1
        data[index] ^= 0x01 if data[index] ^ 0x01 != 0xFF else 0x02
        return bytes(data)

    def ai_ingredient() -> bytes:
        sky = {"title": "sky.jpg", "relationship": "componentOf", "label": "sky"}
        placed = {"action": "c2pa.placed", "parameters": {"ingredientIds": ["sky"]}}
        return _sign(listed, photo, _manifest(opened, placed),
                     ((parent, capture), (sky, created(listed, "trainedAlgorithmicMedia"))))

    def marked() -> bytes:
        return _sign(listed, photo, _manifest(
            {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"},
            {"action": "c2pa.watermarked", "parameters": {"alg": "com.google.synthid.1"}},
            assertions=({"label": "c2pa.soft-binding", "data": {"alg": "com.google.synthid.1",
                                                                "blocks": [{"scope": {}, "value": "AAAA"}]}},
                        {"label": "cawg.identity", "data": {"signer_payload": {"referenced_assertions": [],
                                                                              "sig_type": "cawg.x509.cose"},
                                                            "signature": "AAAA", "pad1": "", "pad2": ""}})))

    def garbage_jumbf() -> bytes:
        import struct
        description = b"jumd" + b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71" + b"\x03c2pa\x00"
        junk = b"JP\x02\x11" + struct.pack(">I", 1) + struct.pack(">I", 300) + b"jumb" \
            + struct.pack(">I", 8 + len(description) - 4) + description + b"\xde\xad\xbe\xef" * 60
        return photo[:2] + b"\xff\xeb" + struct.pack(">H", len(junk) + 2) + junk + photo[2:]

    def label(code: str) -> bytes:
        return _jpeg_with_xmp(_xmp(html.escape(json.dumps({**LABEL, "Label": code}))))

    rows = [
        ("C2PA: AI declared, signer on the trust list", "valid, trusted; decides AI",
         lambda: created(listed, "trainedAlgorithmicMedia")),
        ("C2PA: AI declared, signer on no list", "valid, untrusted; decides AI", lambda: created(unlisted,
                                                                                                "trainedAlgorithmicMedia")),
        ("C2PA: camera capture, listed signer", "valid, trusted; decides real", lambda: capture),
        ("C2PA: camera capture, unlisted signer", "valid, untrusted; weak real only",
         lambda: created(unlisted, "digitalCapture")),
        ("C2PA: pixels changed after signing", "invalid (data hash); never real", data_hash_mismatch),
        ("C2PA: ingredient with a broken signature", "invalid at the ingredient; decides nothing",
         lambda: _sign(listed, photo, _manifest(opened, {"action": "c2pa.color_adjustments"}),
                       ((parent, _break_signature(capture)),))),
        ("C2PA: edit of a valid camera original", "valid chain; no AI recorded",
         lambda: _sign(listed, photo, _manifest(opened, {"action": "c2pa.color_adjustments"}), ((parent, capture),))),
        ("C2PA: drawing only (digitalCreation)", "valid; no AI recorded, weak AI pixels overruled",
         lambda: _sign(listed, photo, _manifest({"action": "c2pa.created", "digitalSourceType": IPTC
                                                 + "digitalCreation"}, {"action": "c2pa.drawing"}))),
        ("C2PA: AI ingredient placed into a photo", "valid; decides AI (composite)", ai_ingredient),
        ("C2PA: watermark, soft binding, broken CAWG identity", "valid; decides AI; identity not verified", marked),
        ("C2PA: garbage JUMBF", "unreadable; decides nothing", garbage_jumbf),
        ("AIGC label 1 in JPEG XMP", "decides AI, names the producer", lambda: label("1")),
        ("AIGC label 2 in JPEG XMP", "supports AI, does not decide", lambda: label("2")),
        ("AIGC label 3 in JPEG XMP", "supports AI, does not decide", lambda: label("3")),
        ("AIGC label 1 in a PNG text chunk", "decides AI", lambda: _png(text={"AIGC": json.dumps(LABEL)})),
        ("AIGC label 1 in EXIF UserComment", "decides AI",
         lambda: _jpeg_with_exif(0x9286, b"ASCII\0\0\0" + json.dumps({"AIGC": LABEL}).encode(), sub=True)),
        ("stealth_pnginfo (alpha, plain)", "decides AI", lambda: _stealth_png("stealth_pnginfo", INFOTEXT.encode())),
        ("stealth_rgbcomp (RGB, gzip)", "decides AI", lambda: _stealth_png("stealth_rgbcomp", INFOTEXT.encode())),
        ("stealth_pngcomp, truncated", "supports AI, does not decide",
         lambda: _stealth_png("stealth_pngcomp", INFOTEXT.encode() * 3, cut=15 * 8 + 32 + 200)),
        ("stealth_pnginfo, length past the image", "supports AI, does not decide",
         lambda: _stealth_png("stealth_pnginfo", INFOTEXT.encode(), length=10 ** 9)),
        ("Grok EXIF signature + UUID Artist", "decides AI",
         lambda: _exif_jpeg({0x010E: "Signature: " + "QmFzZTY0U2lnbmF0dXJl" * 3, 0x013B: UUID})),
        ("Ideogram EXIF Make", "decides AI", lambda: _exif_jpeg({0x010F: "Ideogram"})),
        ("Civitai infotext", "decides AI, lists the resources", lambda: _png(text={"parameters": CIVITAI})),
    ]
    return rows, listed.ca_pem


def outcome(evidence: list) -> str:
    picked = [e for e in evidence if e.kind in ("provenance", "metadata")]
    if not picked:
        return "nothing found"
    lead = sorted(picked, key=lambda e: (not e.decisive, -e.strength))[0]
    state = ""
    if lead.source == "c2pa":
        d = lead.details
        state = f"{d.get('store_state')}{', tampered' if d.get('tampered') else ''}, {d.get('trust_status')}; "
    weight = "decisive " if lead.decisive else ""
    return f"{state}{lead.source}: {weight}{lead.supports} {lead.strength:.2f}"


def run() -> list[dict[str, str]]:
    from zoomin_ui import service

    rows, ca_pem = fixtures()
    with tempfile.TemporaryDirectory() as folder:
        anchors = Path(folder) / "listed.pem"
        anchors.write_bytes(ca_pem)
        os.environ["ZOOMIN_C2PA_TRUST_ANCHORS"] = str(anchors)
        detector = service.open_detector("evidence")
        table = []
        for kind, expected, build in rows:
            analysis = service.analyze_image(detector, load_image(build()), kind)
            table.append({"kind": kind, "expected": expected, "reader": outcome(analysis.evidence),
                          "verdict": analysis.verdict, "headline": analysis.reading.headline})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the table for docs/provenance.md")
    args = parser.parse_args()
    table = run()
    if not args.markdown:
        print(json.dumps(table, indent=1, ensure_ascii=False))
        return
    print("| fixture | expected | reader says | verdict | headline |\n|---|---|---|---|---|")
    for row in table:
        print(f"| {row['kind']} | {row['expected']} | {row['reader']} | {row['verdict']} | {row['headline']} |")


if __name__ == "__main__":
    main()
