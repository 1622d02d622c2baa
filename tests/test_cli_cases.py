"""`zoomin analyze --save`, `zoomin cases ...` and `zoomin verify` against a
real data folder (ZOOMIN_HOME)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.glossary import VERDICT_WORDS
from models.sample_images import camera_like_photo, encode
from zoomin_ui.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "zoomin-home"
    monkeypatch.setenv("ZOOMIN_HOME", str(folder))
    monkeypatch.setenv("ZOOMIN_ANALYST", "alice")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for seed in (1, 2):
        (folder / f"photo-{seed}.png").write_bytes(encode(camera_like_photo(96, 128, seed=seed), "PNG"))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_analyze_save_records_cases_that_list_and_show(home, photos):
    saved = run("analyze", str(photos / "photo-1.png"), "--save", "--json", "--title", "Harbour fire")
    assert saved.exit_code == 0, saved.output
    record = json.loads(saved.stdout)
    assert record["case_id"] == 1 and record["analysis_id"] == 1 and record["verdict"]

    added = run("analyze", str(photos / "photo-2.png"), "--save", "--case", "1", "--analyst", "bob")
    assert added.exit_code == 0 and "saved as case 1 (analysis 2)" in added.stderr
    shown_word = added.stdout.splitlines()[1].split("  (")[0].strip()  # the summary leads with the verdict word
    latest_verdict = next(v for v, word in VERDICT_WORDS.items() if word.upper() == shown_word)

    listed = run("cases", "list", "--json")
    assert listed.exit_code == 0
    cases = json.loads(listed.stdout)
    assert [(c["id"], c["title"], c["files"]) for c in cases] == [(1, "Harbour fire", ["photo-1.png", "photo-2.png"])]
    assert cases[0]["verdict"] == latest_verdict  # no final verdict yet: the latest analysis speaks
    assert json.loads(run("cases", "list", "--json", "--analyst", "bob").stdout)[0]["id"] == 1
    assert json.loads(run("cases", "list", "--json", "--query", record["sha256"][:8]).stdout)[0]["id"] == 1
    assert json.loads(run("cases", "list", "--json", "--query", "no such thing").stdout) == []

    shown = run("cases", "show", "1")
    assert shown.exit_code == 0
    assert "Case 1: Harbour fire" in shown.stdout and "photo-2.png" in shown.stdout
    assert "alice: analysis-started" in shown.stdout and "bob: evidence-added" in shown.stdout
    detail = json.loads(run("cases", "show", "1", "--json").stdout)
    assert [a["status"] for a in detail["analyses"]] == ["done", "done"]
    assert detail["evidence_files"][0]["sha256"] == record["sha256"]


def test_a_file_that_cannot_be_read_saves_nothing(home, photos):
    result = run("analyze", str(photos / "broken.jpg"), str(photos / "photo-1.png"), "--save", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["error_code"] == "not-an-image" and lines[1]["case_id"] == 1
    assert len(json.loads(run("cases", "list", "--json").stdout)) == 1


def test_export_import_and_verify(home, photos, tmp_path, monkeypatch):
    assert run("analyze", str(photos / "photo-1.png"), "--save").exit_code == 0
    bundle = tmp_path / "case-1.zip"
    exported = run("cases", "export", "1", "-o", str(bundle))
    assert exported.exit_code == 0 and "manifest SHA-256" in exported.stdout
    again = run("cases", "export", "1", "-o", str(bundle))
    assert again.exit_code == 1 and "already exists" in again.stderr

    verified = run("verify")
    assert verified.exit_code == 0 and "matches" in verified.stdout

    key_file = tmp_path / "sender-key.json"
    assert run("keys", "export", "-o", str(key_file), "--label", "alice").exit_code == 0
    fingerprint = run("keys", "show").stdout.split(":", 1)[1].strip()

    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "colleague"))
    refused = run("cases", "import", str(bundle), "--analyst", "dave")
    assert refused.exit_code == 1 and "UNKNOWN key" in refused.stderr and fingerprint in refused.stderr
    assert run("keys", "trust", str(key_file)).exit_code == 1  # not without the fingerprint read out
    assert run("keys", "trust", str(key_file), "--fingerprint", fingerprint).exit_code == 0
    imported = run("cases", "import", str(bundle), "--analyst", "dave")
    assert imported.exit_code == 0 and "imported as case 1" in imported.stdout
    assert "signed by the trusted key" in imported.stdout
    history = json.loads(run("cases", "show", "1", "--json").stdout)["history"]
    assert history[-1]["actor"] == "dave" and history[-1]["action"] == "case-imported"

    sha = json.loads(run("cases", "list", "--json").stdout)[0]
    stored = next(p for p in (tmp_path / "colleague" / "objects").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(b"swapped")
    tampered = run("verify")
    assert tampered.exit_code == 1 and "hash-mismatch" in tampered.stdout and sha["files"][0] in tampered.stdout
    problems = json.loads(run("verify", "--json").stdout)
    assert problems[0]["kind"] == "hash-mismatch"


@pytest.mark.parametrize("args, message", [
    (("cases", "show", "99"), "no case 99"),
    (("cases", "export", "99", "-o", "x.zip"), "no case 99"),
    (("cases", "import", "missing.zip"), "no such file"),
    (("analyze", "photo.png", "--case", "3"), "go with --save"),
])
def test_errors_are_one_line_without_a_traceback(home, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.output + result.stderr


def test_save_into_a_case_that_does_not_exist_stops_before_analysing(home, photos):
    result = run("analyze", str(photos / "photo-1.png"), "--save", "--case", "7")
    assert result.exit_code == 1 and "--case 7: no case 7" in result.stderr
    assert json.loads(run("cases", "list", "--json").stdout) == []


def test_a_newer_database_is_refused_with_one_line(home):
    import sqlite3

    assert run("cases", "list").exit_code == 0
    with sqlite3.connect(home / "cases.sqlite3") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffff'")
    result = run("cases", "list")
    assert result.exit_code == 1 and "newer version of ZoomIn" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
