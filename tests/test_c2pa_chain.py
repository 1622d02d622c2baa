"""The whole manifest store: an ingredient whose own manifest has a broken
signature, a data-hash mismatch, a drawing-only manifest, soft bindings,
declared watermarks and CAWG identity assertions, and what fusion and the
reading make of them.  Every file is signed here with a throwaway test CA."""

from __future__ import annotations

import io
import json

import pytest

c2pa = pytest.importorskip("c2pa")

from models.evidence.c2pa_credentials import TRUST_ANCHORS_ENV, read_content_credentials  # noqa: E402
from models.evidence.credentials_words import credentials_lines, credentials_phrase  # noqa: E402
from models.evidence.fusion import fuse  # noqa: E402
from models.image_input import load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode  # noqa: E402
from models.types import Evidence  # noqa: E402
from tests.test_c2pa_credentials import IPTC, _make_pki  # noqa: E402


def _manifest(*actions: dict, assertions: tuple = (), title: str = "fixture.jpg") -> dict:
    return {"claim_generator_info": [{"name": "ZoomIn chain test", "version": "1.0"}], "title": title,
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": list(actions)}}, *assertions]}


def _sign(pki, jpeg: bytes, manifest: dict, ingredients: tuple = ()) -> bytes:
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, pki.chain_pem, pki.key_pem, None))
    context = c2pa.Context.from_dict({"verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
                                      "builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with context, signer, c2pa.Builder(manifest, context=context) as builder:
        for definition, data in ingredients:
            builder.add_ingredient(definition, "image/jpeg", io.BytesIO(data))
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


def _break_signature(signed: bytes) -> bytes:
    """Flip one byte inside the claim signature box: the COSE signature no longer matches."""
    at = signed.find(b"c2pa.signature") + 200
    return signed[:at] + bytes([signed[at] ^ 1]) + signed[at + 1:]


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chain")
    pki = _make_pki("Chain Test")
    (folder / "ca.pem").write_bytes(pki.ca_pem)
    photo = encode(camera_like_photo(160, 208, seed=11))
    capture = _sign(pki, photo, _manifest({"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}))
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}
    parent = {"title": "camera-original.jpg", "relationship": "parentOf", "label": "parent"}
    edited = _manifest(opened, {"action": "c2pa.color_adjustments"})
    ai_part = _sign(pki, photo, _manifest({"action": "c2pa.created",
                                            "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}))
    placed = {"action": "c2pa.placed", "parameters": {"ingredientIds": ["sky"]}}
    return {
        "anchors": folder / "ca.pem",
        "good_chain": _sign(pki, photo, edited, ((parent, capture),)),
        "broken_ingredient": _sign(pki, photo, edited, ((parent, _break_signature(capture)),)),
        "ai_ingredient": _sign(pki, photo, _manifest(opened, placed),
                               ((parent, capture), ({"title": "sky.jpg", "relationship": "componentOf",
                                                     "label": "sky"}, ai_part))),
        "drawing": _sign(pki, photo, _manifest({"action": "c2pa.created",
                                                "digitalSourceType": IPTC + "digitalCreation"},
                                               {"action": "c2pa.drawing"})),
        "drawing_old_code": _sign(pki, photo, _manifest({"action": "c2pa.created", "digitalSourceType": IPTC + "digitalArt"},
                                                        {"action": "c2pa.drawing"}, {"action": "c2pa.edited"})),
        "capture": capture,
        "marked": _sign(pki, photo, _manifest(
            {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"},
            {"action": "c2pa.watermarked", "softwareAgent": {"name": "SynthID"},
             "parameters": {"alg": "com.google.synthid.1"}},
            assertions=({"label": "c2pa.soft-binding", "data": {"alg": "com.google.synthid.1",
                                                                "blocks": [{"scope": {}, "value": "AAAA"}]}},
                        {"label": "cawg.identity", "data": {"signer_payload": {"referenced_assertions": [],
                                                                              "sig_type": "cawg.x509.cose"},
                                                            "signature": "AAAA", "pad1": "", "pad2": ""}}))),
    }


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(TRUST_ANCHORS_ENV, raising=False)


def _read(data: bytes, anchors) -> Evidence:
    evidence = read_content_credentials(load_image(data), anchors)
    assert len(evidence) == 1
    json.dumps(evidence[0].to_dict())
    return evidence[0]


def _signal(supports: str, probability: float) -> Evidence:
    return Evidence("signal", "signal-model", f"learned signal score {probability:.2f}", supports,
                    abs(probability - 0.5), False, {"probability": probability})


def test_a_valid_chain_lists_every_manifest_as_a_tree(fx):
    item = _read(fx["good_chain"], fx["anchors"])
    details = item.details
    assert details["store_state"] == "valid" and details["integrity_ok"] and not details["failed_at"]
    tree = details["manifests"]
    assert [n["role"] for n in tree] == ["active manifest", "ingredient (parentOf)"]
    assert tree[1]["title"] == "camera-original.jpg" and tree[1]["status"] == "valid"
    assert tree[1]["digital_source_types"] == ["digitalCapture"] and tree[1]["signer"]
    assert details["records_no_ai"] is True


def test_an_ingredient_with_a_broken_signature_makes_the_whole_invalid(fx):
    item = _read(fx["broken_ingredient"], fx["anchors"])
    details = item.details
    assert details["validation_state"] == "Trusted"  # c2pa's own state covers the active manifest only
    assert details["store_state"] == "invalid" and not details["integrity_ok"] and not details["tampered"]
    assert "camera-original.jpg" in details["failed_at"][0] and "claimSignature.mismatch" in details["failed_at"][0]
    assert (item.supports, item.decisive) == ("neither", False)
    assert "INVALID as a whole" in item.finding and "camera-original.jpg" in item.finding
    assert details["manifests"][1]["status"] == "invalid"
    assert "invalid as a whole" in " ".join(credentials_lines(details))


def test_a_data_hash_mismatch_is_named_and_never_called_real(fx):
    data = bytearray(fx["capture"])
    index = data.rfind(b"\xff\xda") + 300
    while 0xFF in data[index - 1:index + 2]:
        index += 1
    data[index] ^= 0x01 if data[index] ^ 0x01 != 0xFF else 0x02
    item = _read(bytes(data), fx["anchors"])
    assert item.details["tampered"] and "assertion.dataHash.mismatch" in item.details["failure_codes"]
    assert item.finding.startswith("The file was altered after it was signed")
    assert credentials_phrase(item.details).startswith("the file was altered after it was signed")
    fused = fuse([item, _signal("real", 0.05)], [])
    assert fused.verdict == "inconclusive" and "altered after it was signed" in fused.explanation


def test_an_ingredient_declaring_ai_makes_a_composite(fx):
    item = _read(fx["ai_ingredient"], fx["anchors"])
    assert item.details["store_state"] == "valid"
    assert "trainedAlgorithmicMedia" in item.details["ingredient_source_types"]
    assert (item.supports, item.decisive) == ("ai-generated", True)
    assert "partly AI-generated" in item.finding and "declare AI content added" in credentials_phrase(item.details)


@pytest.mark.parametrize("name", ["drawing", "drawing_old_code"])
def test_a_drawing_only_manifest_keeps_weak_pixels_from_calling_it_ai(fx, name):
    item = _read(fx[name], fx["anchors"])
    assert item.details["integrity_ok"] and item.details["records_no_ai"] and item.supports == "neither"
    assert "uses no AI" in item.finding
    fused = fuse([item, _signal("ai-generated", 0.9)], [])
    assert fused.verdict == "inconclusive" and "without AI" in fused.explanation
    decisive_ai = Evidence("metadata", "text:parameters", "infotext", "ai-generated", 0.95, True, {})
    assert fuse([item, decisive_ai, _signal("ai-generated", 0.9)], []).verdict == "ai-generated"


def test_soft_binding_watermark_and_identity_are_recorded(fx):
    item = _read(fx["marked"], fx["anchors"])
    details = item.details
    assert details["soft_bindings"] == [{"alg": "com.google.synthid.1", "blocks": 1, "pad": None}]
    assert details["watermarks"] == ["com.google.synthid.1"]
    identity = details["identities"][0]
    assert identity["sig_type"] == "cawg.x509.cose" and identity["verified"] is False and identity["failures"]
    # A broken identity assertion does not void the signature; it is reported as unconfirmed.
    assert details["integrity_ok"] and item.decisive and item.supports == "ai-generated"
    assert "watermark com.google.synthid.1" in item.finding and "NOT verified" in item.finding
    lines = " ".join(credentials_lines(details))
    assert "embedded an invisible watermark" in lines and "does not verify" in lines


@pytest.mark.parametrize("store", [
    "[]", '{"active_manifest": 5, "manifests": []}',
    json.dumps({"active_manifest": "m", "manifests": {"m": {"ingredients": [
        {"active_manifest": "gone", "title": "lost.jpg"}, "junk", {"validation_results": "x"}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": "not a list"}}, 7]}}}),
])
def test_malformed_stores_never_raise(store):
    from models.evidence.c2pa_credentials import C2paSummary, _fill_from_store
    from models.evidence.c2pa_weighing import weigh

    summary = C2paSummary(present=True)
    _fill_from_store(summary, store, trust_configured=True)
    item = weigh(summary)
    assert not item.decisive
    json.dumps(item.to_dict())
    if "lost.jpg" in store:
        assert summary.store_state == "incomplete" and "lost.jpg" in summary.failed_at[0]


def test_the_panel_and_the_report_draw_the_store_as_a_tree(fx):
    from exports.provenance_section import _c2pa_rows
    from models.evidence.credentials_words import manifest_tree_lines
    from zoomin_ui.web.provenance import provenance_text

    item = _read(fx["broken_ingredient"], fx["anchors"])
    tree = manifest_tree_lines(item.details)
    assert tree[0] == "Active manifest: VALID" and "'fixture.jpg'" in tree[1]
    ingredient = tree.index("└─ Ingredient (parentOf): INVALID")
    assert "'camera-original.jpg'" in tree[ingredient + 1] and "signed by" in tree[ingredient + 2]
    assert any(line.strip() == "actions: created" for line in tree[ingredient:])
    assert any("failed: claimSignature.mismatch" in line for line in tree[ingredient:])
    plain, raw = provenance_text([item])
    assert "invalid as a whole" in plain
    assert raw.index("Manifest store:") < raw.index('"kind"') and "└─ Ingredient (parentOf): INVALID" in raw
    assert "/trust/" not in raw  # the trust list's location on this machine is not recorded
    rows = dict(_c2pa_rows(item))
    compact = manifest_tree_lines(item.details, compact=True)
    assert len(compact) == 2 and rows["Manifest store"] == "\n".join(compact)
    assert compact[1].startswith("└─ Ingredient (parentOf): INVALID · 'camera-original.jpg' · signed by")
    assert rows["Overall state (as Verify shows it)"].startswith("invalid: failed at ingredient 'camera-original.jpg'")
    assert "C2PA signers list issued 2026-08-05" in rows["Trust list"]
    marked = dict(_c2pa_rows(_read(fx["marked"], fx["anchors"])))
    assert marked["Watermark declared"] == "com.google.synthid.1" and "NOT verified" in marked[
        "Identity assertions (CAWG)"]


def test_a_garbled_manifest_is_a_finding_and_the_other_readers_go_on():
    import html as html_module
    import struct

    from models.evidence.generator_metadata import read_generator_metadata
    from tests.test_aigc_stealth import LABEL, _jpeg_with_xmp, _xmp

    labelled = _jpeg_with_xmp(_xmp(html_module.escape(json.dumps(LABEL))))
    description = b"jumd" + b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71" + b"\x03c2pa\x00"
    junk = b"JP\x02\x11" + struct.pack(">I", 1) + struct.pack(">I", 300) + b"jumb" \
        + struct.pack(">I", 8 + len(description) - 4) + description + b"\xde\xad\xbe\xef" * 60
    data = labelled[:2] + b"\xff\xeb" + struct.pack(">H", len(junk) + 2) + junk + labelled[2:]
    image = load_image(data)
    credentials = read_content_credentials(image)
    assert len(credentials) == 1 and "unreadable" in credentials[0].finding
    assert credentials[0].details["store_state"] == "unreadable" and not credentials[0].decisive
    assert any(e.source == "aigc:xmp" and e.decisive for e in read_generator_metadata(image))
