"""From a file on disk to the command line's JSON: each kind of decisive
evidence drives the verdict and is named in the explanation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from tests.test_c2pa_credentials import _make_pki, _sign
from tests.test_watermark import SDXL, watermarked
from zoomin_ui.cli import main


def analyse(path, *options) -> dict:
    result = CliRunner().invoke(main, ["analyze", str(path), "--json", *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def _no_env_trust_list(monkeypatch):
    monkeypatch.delenv("ZOOMIN_C2PA_TRUST_ANCHORS", raising=False)


def test_sdxl_watermark_decides_ai_generated(tmp_path):
    path = tmp_path / "sdxl.png"
    path.write_bytes(encode(watermarked(SDXL, 512, 640, seed=3), "PNG"))
    record = analyse(path)
    assert record["verdict"] == "ai-generated"
    assert record["explanation"].startswith("AI-generated, decided by watermark evidence: Stable Diffusion XL")
    decisive = [e for e in record["evidence"] if e["decisive"]]
    assert [e["kind"] for e in decisive] == ["watermark"]
    assert decisive[0]["details"]["pattern"] == SDXL


def test_signed_content_credentials_decide_both_ways(tmp_path):
    pki = _make_pki("End To End")
    anchors = tmp_path / "roots.pem"
    anchors.write_bytes(pki.ca_pem)
    photo = encode(camera_like_photo(384, 512, seed=8), "JPEG", quality=93)
    (tmp_path / "generated.jpg").write_bytes(_sign(pki, photo, "trainedAlgorithmicMedia"))
    (tmp_path / "captured.jpg").write_bytes(_sign(pki, photo, "digitalCapture"))

    generated = analyse(tmp_path / "generated.jpg")
    assert generated["verdict"] == "ai-generated" and "provenance evidence" in generated["explanation"]

    untrusted = analyse(tmp_path / "captured.jpg")
    assert untrusted["verdict"] != "real" or "signal evidence alone" in untrusted["explanation"]
    assert not any(e["decisive"] for e in untrusted["evidence"])

    trusted = analyse(tmp_path / "captured.jpg", "--trust-anchors", str(anchors))
    assert trusted["verdict"] == "real"
    assert trusted["explanation"].startswith("Real, decided by provenance evidence")
