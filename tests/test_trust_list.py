"""The C2PA trust lists: the shipped copy, `zoomin trust show/update`, a newer
list installed into the data folder, an expired one, and a signer on a list
read as trusted with its organisation named."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

pytest.importorskip("c2pa")

from models.evidence.c2pa_credentials import TRUST_ANCHORS_ENV, read_content_credentials  # noqa: E402
from models.evidence.trust_list import SHIPPED_FOLDER, active_lists, parse_trust_list  # noqa: E402
from models.image_input import load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode  # noqa: E402
from tests.test_c2pa_credentials import _make_pki, _sign  # noqa: E402
from zoomin_ui.cli import main  # noqa: E402


def lote(ca_pem: bytes, issued: str, next_update: str, organisation: str = "ZoomIn Test Newsroom",
         scheme: str = "C2PA Trust List") -> dict:
    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(Encoding.DER)
    return {"LoTE": {
        "ListAndSchemeInformation": {"SchemeName": [{"lang": "en", "value": scheme}],
                                     "ListIssueDateTime": issued, "NextUpdate": next_update},
        "TrustedEntitiesList": [{
            "TrustedEntityInformation": {"TEName": [{"lang": "en", "value": organisation}]},
            "TrustedEntityServices": [{"ServiceInformation": {
                "ServiceStatus": "http://c2pa.org/conformance/trust-list/trusted",
                "ServiceDigitalIdentity": {"X509Certificates": [{"val": base64.b64encode(der).decode()}]}}}]}]}}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(TRUST_ANCHORS_ENV, raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def signed():
    pki = _make_pki("Listed Newsroom")
    photo = encode(camera_like_photo(160, 200, seed=5))
    return pki, _sign(pki, photo, "digitalCapture")


def _run(*args: str):
    return CliRunner().invoke(main, ["trust", *args])


def test_the_official_lists_ship_with_their_attribution():
    lists = active_lists("/nonexistent-home")
    assert lists["signers"].shipped and lists["signers"].certificate_count == 30
    assert lists["timestamps"].certificate_count == 22
    assert lists["signers"].issued.date() == datetime.date(2026, 8, 5)
    assert "Adobe Inc" in lists["signers"].organisations and "Google LLC" in lists["signers"].organisations
    source = (SHIPPED_FOLDER / "SOURCE.md").read_text()
    assert "CC BY 4.0" in source and "7dbff513b66e36184619286fe734beea32f2e6db" in source
    assert (SHIPPED_FOLDER / "LICENSE").read_text().startswith("Attribution 4.0")


def test_show_prints_issue_date_count_and_expiry(home):
    result = _run("show")
    assert result.exit_code == 0, result.output
    assert "claim signers: issued 2026-08-05" in result.output and "30 certificates" in result.output
    assert "time-stamp authorities" in result.output and "next update due 2027-08-05" in result.output


def test_a_signer_off_the_list_is_untrusted_and_on_an_installed_list_trusted_by_name(home, signed, tmp_path):
    pki, data = signed
    item = read_content_credentials(load_image(data))[0]
    assert item.details["trust_status"] == "untrusted" and not item.decisive
    newer = tmp_path / "C2PA-TRUST-LIST.json"
    newer.write_text(json.dumps(lote(pki.ca_pem, "2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z",
                                     organisation="Listed Newsroom Ltd")))
    result = _run("update", str(newer))
    assert result.exit_code == 0, result.output
    assert "installed and now in use" in result.output
    assert (home / "c2pa-trust" / "C2PA-TRUST-LIST.json").exists()
    assert "issued 2030-01-01" in _run("show").output
    item = read_content_credentials(load_image(data))[0]
    assert item.details["trust_status"] == "trusted" and item.decisive and item.supports == "real"
    assert item.details["signer_organisation"] == "Listed Newsroom Ltd"
    assert "Listed Newsroom Ltd" in item.finding


def test_an_expired_list_says_so(home, signed, tmp_path):
    pki, data = signed
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(lote(pki.ca_pem, "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z")))
    listed = parse_trust_list(stale.read_bytes(), stale)
    assert listed.expired(datetime.datetime(2030, 3, 1, tzinfo=datetime.timezone.utc))
    assert not listed.expired(datetime.datetime(2030, 1, 15, tzinfo=datetime.timezone.utc))
    past = tmp_path / "past.json"
    past.write_text(json.dumps(lote(pki.ca_pem, "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z")))
    assert "PAST its next update" in _run("update", str(past)).output
    assert "PAST its next update" in _run("show").output
    item = read_content_credentials(load_image(data))[0]
    assert item.details["trust_list_expired"] is True
    assert "past its next update" in item.finding


@pytest.mark.parametrize("content, reason", [
    (b"not json", "not a C2PA trust list"),
    (json.dumps({"LoTE": {"ListAndSchemeInformation": {"SchemeName": [{"value": "EU list"}],
                                                       "ListIssueDateTime": "2030-01-01T00:00:00Z"}}}).encode(),
     "not the C2PA's"),
    (json.dumps({"LoTE": {"ListAndSchemeInformation": {"SchemeName": [{"value": "C2PA Trust List"}],
                                                       "ListIssueDateTime": "2030-01-01T00:00:00Z"},
                          "TrustedEntitiesList": [{"TrustedEntityInformation": {"TEName": [{"value": "X"}]},
                                                   "TrustedEntityServices": [{"ServiceInformation": {
                                                       "ServiceStatus": "x/trusted", "ServiceDigitalIdentity": {
                                                           "X509Certificates": [{"val": "bm90IGEgY2VydA=="}]}}}]}]}}
                ).encode(), "cannot be decoded"),
])
def test_a_bad_or_older_list_is_refused_in_one_line(home, tmp_path, content, reason):
    bad = tmp_path / "list.json"
    bad.write_bytes(content)
    result = _run("update", str(bad))
    assert result.exit_code == 1 and reason in result.output and "Traceback" not in result.output
    assert not (home / "c2pa-trust" / "C2PA-TRUST-LIST.json").exists()


def test_an_older_list_changes_nothing(home, signed, tmp_path):
    pki, _ = signed
    old = tmp_path / "old.json"
    old.write_text(json.dumps(lote(pki.ca_pem, "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")))
    result = _run("update", str(old))
    assert result.exit_code == 1 and "not later than" in result.output


def test_added_anchors_join_the_official_list(home, signed, tmp_path, monkeypatch):
    pki, data = signed
    (tmp_path / "ours.pem").write_bytes(pki.ca_pem)
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(tmp_path / "ours.pem"))
    item = read_content_credentials(load_image(data))[0]
    assert item.details["trust_status"] == "trusted"
    assert item.details["trust_lists"][0]["certificates"] == 30  # the official list is still in use


def test_an_oversized_file_is_refused_unread(home, tmp_path):
    big = tmp_path / "huge.json"
    big.write_bytes(b" " * 5_000_001)
    result = _run("update", str(big))
    assert result.exit_code == 1 and "larger than 5 MB" in result.output


def test_signers_and_time_stamp_authorities_are_both_anchors():
    from models.evidence.trust_list import anchors_pem

    pem, lists = anchors_pem("/nonexistent-home")
    assert pem.count("BEGIN CERTIFICATE") == 30 + 22
    assert {t.kind for t in lists} == {"signers", "timestamps"}
