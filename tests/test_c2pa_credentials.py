"""Content Credentials: files signed here with a throwaway CA, read back through
the real loader and c2pa-python."""

from __future__ import annotations

import datetime
import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

c2pa = pytest.importorskip("c2pa")
x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from models.evidence.c2pa_credentials import (  # noqa: E402
    TRUST_ANCHORS_ENV, C2paSummary, _fill_from_store, read_content_credentials,
    summarize_content_credentials,
)
from models.image_input import load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode  # noqa: E402

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass
class SigningPki:
    ca_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ZoomIn Test Newsroom")])


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                         crl_sign=not signing, encipher_only=False, decipher_only=False)


def _make_pki(label: str) -> SigningPki:
    """A root CA and an ES256 leaf shaped as C2PA's certificate profile asks:
    leaf not a CA, digitalSignature key usage, an allowed EKU (emailProtection)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{label} Root CA")).issuer_name(_name(f"{label} Root CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_key_usage(signing=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{label} Signer")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return SigningPki(
        ca_pem=ca.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _sign(pki: SigningPki, jpeg: bytes, source_type: str) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "ZoomIn test signer", "version": "1.0"}],
        "title": "fixture.jpg",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": IPTC + source_type,
             "softwareAgent": {"name": "FixtureGen", "version": "2"}}]}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, pki.chain_pem, pki.key_pem, None))
    context = c2pa.Context.from_dict({"verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
                                      "builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with context, signer, c2pa.Builder(manifest, context=context) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


@dataclass
class Fixtures:
    ca_file: Path
    other_ca_file: Path
    plain: bytes
    ai: bytes
    capture: bytes


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> Fixtures:
    folder = tmp_path_factory.mktemp("c2pa")
    pki, stranger = _make_pki("ZoomIn Test"), _make_pki("Someone Else")
    (folder / "ca.pem").write_bytes(pki.ca_pem)
    (folder / "other.pem").write_bytes(stranger.ca_pem)
    plain = encode(camera_like_photo(192, 256, seed=3))
    return Fixtures(folder / "ca.pem", folder / "other.pem", plain,
                    _sign(pki, plain, "trainedAlgorithmicMedia"), _sign(pki, plain, "digitalCapture"))


@pytest.fixture(autouse=True)
def _no_env_trust_list(monkeypatch):
    monkeypatch.delenv(TRUST_ANCHORS_ENV, raising=False)


def _only(evidence):
    assert len(evidence) == 1, evidence
    item = evidence[0]
    json.dumps(item.to_dict())  # details must stay JSON-serialisable
    assert item.kind == "provenance" and item.source == "c2pa"
    return item


def test_ai_declaration_from_trusted_signer_is_decisive(fx):
    item = _only(read_content_credentials(load_image(fx.ai), fx.ca_file))
    assert (item.supports, item.decisive) == ("ai-generated", True)
    assert item.strength >= 0.95
    assert "trainedAlgorithmicMedia" in item.finding and "trust anchor" in item.finding
    assert item.details["trust_status"] == "trusted" and item.details["trusted"] is True
    assert item.details["validation_state"] == "Trusted"


def test_ai_declaration_from_an_unlisted_signer_is_decisive_but_says_so(fx):
    item = _only(read_content_credentials(load_image(fx.ai)))
    assert (item.supports, item.decisive) == ("ai-generated", True)
    assert 0.85 <= item.strength < 0.97
    assert "does NOT chain to the C2PA trust list" in item.finding
    assert item.details["trusted"] is False


def test_capture_from_trusted_signer_is_decisive_real(fx):
    item = _only(read_content_credentials(load_image(fx.capture), str(fx.ca_file)))
    assert (item.supports, item.decisive) == ("real", True)
    assert item.strength >= 0.9


@pytest.mark.parametrize("anchors", ["none", "stranger"])
def test_capture_from_unverified_signer_is_not_decisive(fx, anchors):
    trust = fx.other_ca_file if anchors == "stranger" else None
    item = _only(read_content_credentials(load_image(fx.capture), trust))
    assert (item.supports, item.decisive) == ("real", False)
    assert 0.2 <= item.strength <= 0.6
    assert item.details["trust_status"] == "untrusted"  # the official list is always checked
    assert "anyone can sign" in item.finding


def test_trust_list_comes_from_the_environment(fx, monkeypatch):
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(fx.ca_file))
    item = _only(read_content_credentials(load_image(fx.capture)))
    assert item.decisive and item.details["trust_status"] == "trusted"


def test_summary_carries_the_structured_fields(fx):
    summary = summarize_content_credentials(load_image(fx.ai), fx.ca_file)
    assert isinstance(summary, C2paSummary)
    assert summary.present and summary.readable and summary.integrity_ok and summary.trusted
    assert summary.signer_common_name == "ZoomIn Test Signer"
    assert summary.claim_generator and "ZoomIn test signer" in summary.claim_generator
    assert summary.title == "fixture.jpg"
    assert [a.action for a in summary.actions] == ["c2pa.created"]
    assert summary.actions[0].software_agent == "FixtureGen 2"
    assert summary.digital_source_types == [IPTC + "trainedAlgorithmicMedia"]
    assert summary.ingredient_count == 0 and summary.errors == []


def test_pixels_changed_after_signing_fail_validation(fx):
    data = bytearray(fx.ai)
    index = data.rfind(b"\xff\xda") + 300  # inside the entropy-coded scan
    while 0xFF in data[index - 1:index + 2]:
        index += 1
    data[index] = data[index] ^ 0x01 if data[index] ^ 0x01 != 0xFF else data[index] ^ 0x02
    item = _only(read_content_credentials(load_image(bytes(data)), fx.ca_file))
    assert (item.supports, item.decisive) == ("neither", False)
    assert "assertion.dataHash.mismatch" in item.details["failure_codes"]
    assert "cannot be relied upon" in item.finding
    assert "trainedAlgorithmicMedia" in item.finding  # the claims are still listed


def test_no_manifest_gives_no_evidence(fx):
    image = load_image(fx.plain)
    assert read_content_credentials(image) == []
    summary = summarize_content_credentials(image)
    assert not summary.present and summary.errors == []


def test_format_without_c2pa_support_gives_no_evidence(fx):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(fx.plain)).save(buffer, "BMP")
    image = load_image(buffer.getvalue())
    assert read_content_credentials(image) == []
    assert summarize_content_credentials(image).errors  # the note says why nothing was read


def _with_app11(jpeg: bytes, payload: bytes) -> bytes:
    return jpeg[:2] + b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_garbage_jumbf_is_reported_not_raised(fx):
    description = b"jumd" + b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71" + b"\x03c2pa\x00"
    junk = b"JP\x02\x11" + struct.pack(">I", 1) + struct.pack(">I", 300) + b"jumb" \
        + struct.pack(">I", 8 + len(description) - 4) + description + b"\xde\xad\xbe\xef" * 60
    item = _only(read_content_credentials(load_image(_with_app11(fx.plain, junk))))
    assert (item.supports, item.decisive, item.strength) == ("neither", False, 0.0)
    assert "unreadable" in item.finding


def test_truncated_app11_segment_does_not_raise(fx):
    evidence = read_content_credentials(load_image(_with_app11(fx.plain, b"JP\x02\x11\x00\x00\x00\x01\xff")))
    assert all(not e.decisive for e in evidence)


def test_unreadable_trust_anchor_file_is_a_note(fx, tmp_path):
    item = _only(read_content_credentials(load_image(fx.ai), tmp_path / "missing.pem"))
    assert item.decisive and item.details["trust_status"] == "untrusted"
    assert any("trust anchor file" in e for e in item.details["errors"])


def test_garbled_pem_is_a_note(fx, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    evidence = read_content_credentials(load_image(fx.capture), bad)
    assert len(evidence) == 1 and not evidence[0].decisive


def test_version_one_actions_and_flat_status_are_understood():
    store = {
        "active_manifest": "m1",
        "manifests": {"m1": {
            "claim_generator": "OldTool/1.0",
            "signature_info": {"issuer": "Old CA", "common_name": "old signer", "time": "2023-01-01T00:00:00Z"},
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "softwareAgent": "Some Generator 3",
                 "digitalSourceType": IPTC + "compositeSynthetic"}]}}],
            "ingredients": [{"title": "a"}, {"title": "b"}],
        }},
        "validation_status": [{"code": "signingCredential.untrusted"}],
        "validation_state": "Valid",
    }
    summary = C2paSummary(present=True)
    _fill_from_store(summary, json.dumps(store), trust_configured=True)
    assert summary.integrity_ok and summary.trust_status == "untrusted"
    assert summary.actions[0].software_agent == "Some Generator 3"
    assert summary.actions[0].source_type_code == "compositeSynthetic"
    assert summary.ingredient_count == 2 and summary.signing_time == "2023-01-01T00:00:00Z"


def test_broken_store_json_is_a_note():
    summary = C2paSummary(present=True)
    _fill_from_store(summary, "{not json", trust_configured=False)
    assert not summary.readable and summary.errors
