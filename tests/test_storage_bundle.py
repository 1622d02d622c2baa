"""Case bundles: a round trip to another installation, and hostile or
damaged bundles refused with nothing imported."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest

from models.types import Box
from storage import BackendInfo, BundleLimits, CaseStore, StoreError
from tests.storage_backends import BACKENDS, database_for, model_result, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)


@pytest.fixture(params=BACKENDS)
def database_url(request):
    yield from database_for(request.param)


def build_case(store: CaseStore, tmp_path: Path) -> int:
    intake = store.open_case_with_evidence("Harbour fire", png_bytes(21), "alice", original_name="fire.png")
    case_id = intake.record.case_id
    second = store.add_evidence_file(case_id, png_bytes(22), "alice", original_name="fire-2.png").record
    run = store.start_analysis(case_id, intake.record.id, BackendInfo("evidence", "v1", model_revision="w1"),
                               "alice", {"max_regions": 5})
    done = store.finish_analysis(run.id, model_result(intake.record.sha256, regions=2))
    edited = store.edit_region(done.regions[0].id, "bob", box=Box(1, 1, 30, 30), status="confirmed",
                             note="boat pasted in")
    store.add_question(edited.id, "bob", "consistent noise?", "no", "evidence")
    store.delete_region(done.regions[1].id, "bob", reason="grid")
    store.fail_analysis(store.start_analysis(case_id, second.id, BackendInfo("vlm", "v2"), "bob").id, "no GPU")
    store.start_analysis(case_id, second.id, BackendInfo("vlm", "v2"), "bob")  # still running at export
    report = tmp_path / "report.html"
    report.write_text("<h1>Harbour fire</h1>")
    store.record_report(case_id, report, "alice", analysis_id=done.id)
    store.update_case(case_id, "carol", final_verdict="ai-generated", final_note="pasted boat")
    return case_id


def comparable(detail):
    """A case's content without what differs by installation (ids, the import/export events)."""
    analyses = [(a.backend, a.status if a.status != "running" else "interrupted", a.verdict, a.parameters,
                 [(r.source, r.status, r.box, r.label, r.note, r.current, [q.answer for q in r.questions])
                  for r in a.regions], a.raw_output) for a in detail.analyses]
    files = [(f.sha256, f.original_name, f.size_bytes, f.intake_by, f.intake_at) for f in detail.evidence_files]
    history = [(e.actor, e.action, e.before, e.after, e.at) for e in detail.history
               if e.action not in ("case-exported", "case-imported")]
    return (detail.summary.uid, detail.summary.title, detail.summary.verdict, detail.final_note, files, analyses,
            [(r.file_name, r.sha256) for r in detail.reports], history)


def test_a_case_travels_to_another_installation_intact(tmp_path, database_url):
    with CaseStore.open(tmp_path / "sender", database_url) as sender:
        case_id = build_case(sender, tmp_path)
        written = sender.export_bundle(case_id, tmp_path / "case.zip", "alice")
        sent = sender.get_case(case_id)
        sender_key = sender.keys.public_key("alice's laptop")
    assert sent.history[-1].action == "case-exported"
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert hashlib.sha256(archive.read("manifest.json")).hexdigest() == written.manifest_sha256
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == entry["sha256"]
    assert len(manifest["files"]) == 4  # case.json, two evidence files, one report

    with CaseStore.open(tmp_path / "receiver") as receiver:  # always SQLite: a colleague's laptop
        receiver.keys.trust(sender_key, sender_key.fingerprint)  # as read out by the sender
        imported = receiver.import_bundle(tmp_path / "case.zip", "dave")
        received = receiver.get_case(imported.id)
        assert comparable(received) == comparable(sent)
        assert received.history[-1].action == "case-imported" and received.history[-1].actor == "dave"
        assert received.history[-1].after["manifest_sha256"] == written.manifest_sha256
        still_running = [a for a in received.analyses if a.error == "still running when the case was exported"]
        assert len(still_running) == 1 and still_running[0].status == "interrupted"
        assert receiver.verify() == []
        for item in received.evidence_files:
            assert stat.S_IMODE(receiver.stored_path(item.sha256).stat().st_mode) == 0o400
        with pytest.raises(StoreError, match="already here as case"):
            receiver.import_bundle(tmp_path / "case.zip", "dave")
        assert receiver.list_cases().total == 1


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_URL", raising=False)  # before the autouse fixture of each test has run
        with CaseStore.open(folder / "home") as store:
            case_id = build_case(store, folder)
            store.export_bundle(case_id, folder / "case.zip", "alice")
    return folder / "case.zip"


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a bundle with its members passed through change(name, data) -> [(name, data, info)]."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            for name, data, extra in change(info.filename, original.read(info.filename)):
                entry = zipfile.ZipInfo(name)
                if extra:
                    entry.external_attr = extra
                copy.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return target


def with_manifest(edit):
    def change(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            edit(manifest)
            data = json.dumps(manifest).encode()
        return [(name, data, 0)]
    return change


def evidence_member(name: str) -> bool:
    return name.startswith("evidence/")


def altered_evidence(name, data):
    return [(name, data[:-1] + bytes([data[-1] ^ 1]) if evidence_member(name) else data, 0)]


def extra_member(path: str, symlink: bool = False):
    def change(name, data):
        yield name, data, 0
        if name == "manifest.json":
            yield path, b"payload", (stat.S_IFLNK | 0o777) << 16 if symlink else 0
    return change


def altered_case_json(name, data):
    if name == "case.json":  # the same length, so only the hash can tell
        assert b"Harbour fire" in data
        data = data.replace(b"Harbour fire", b"Harbour fake")
    return [(name, data, 0)]


def _unknown_analysis_verdict(case):
    case["case"]["analyses"][0]["verdict"] = "probably"


HOSTILE = {
    "zip-slip": (extra_member("../../outside.txt"), "outside the bundle"),
    "zip-slip-inside": (extra_member("evidence/../../../etc/cron.d/x"), "outside the bundle"),
    "absolute-path": (extra_member("/etc/passwd"), "absolute path"),
    "windows-path": (extra_member("C:\\evil.txt"), "absolute path"),
    "symlink": (extra_member("evidence/" + "a" * 64, symlink=True), "symbolic link"),
    "unlisted-member": (extra_member("reports/" + "b" * 64), "not in the manifest"),
    "altered-evidence": (altered_evidence, "does not match its SHA-256"),
    "altered-case-json": (altered_case_json, "case.json does not match"),
    "unknown-schema": (with_manifest(lambda m: m.update(schema_revision="9999_future")), "unknown to this ZoomIn"),
    "newer-format": (with_manifest(lambda m: m.update(version=2)), "not supported"),
    "not-a-bundle": (with_manifest(lambda m: m.update(format="something-else")), "not describe a ZoomIn"),
    "missing-member": (lambda name, data: [] if evidence_member(name) else [(name, data, 0)],
                       "not in the zip"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_or_damaged_bundle_is_refused_and_nothing_is_imported(tmp_path, bundle, kind):
    change, message = HOSTILE[kind]
    hostile = rewrite(bundle, tmp_path / f"{kind}.zip", change)
    home = tmp_path / "home"
    with CaseStore.open(home) as store:
        with pytest.raises(StoreError) as refused:
            store.import_bundle(hostile, "dave")
        assert refused.value.code == "bad-bundle" and message in str(refused.value)
        assert store.list_cases().total == 0
    assert not (tmp_path / "outside.txt").exists() and not (home.parent.parent / "outside.txt").exists()
    objects = home / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))
    assert not any((home / "tmp").iterdir()) if (home / "tmp").exists() else True


def test_values_that_do_not_fit_the_records_are_refused(tmp_path, bundle):
    def consistent(edit):
        """case.json edited and the manifest updated to match, as a forger would."""
        def change(name, data):
            return [(name, data, 0)]
        with zipfile.ZipFile(bundle) as original:
            case = json.loads(original.read("case.json"))
            manifest = json.loads(original.read("manifest.json"))
        edit(case)
        case_bytes = json.dumps(case).encode()
        manifest["files"]["case.json"] = {"sha256": hashlib.sha256(case_bytes).hexdigest(), "size": len(case_bytes)}
        replaced = {"case.json": case_bytes, "manifest.json": json.dumps(manifest).encode()}
        return lambda name, data: [(name, replaced.get(name, data), 0)]

    forged = {
        "verdict": (_unknown_analysis_verdict, "unknown verdict"),
        "status": (lambda c: c["case"]["analyses"][0].update(status="hacked"), "is not one of"),
        "box": (lambda c: c["case"]["analyses"][0]["regions"][0].update(box=[5, 5, 1, 1]), "x2 > x1"),
        "type": (lambda c: c["case"]["evidence_files"][0].update(size_bytes="big"), "expected int"),
    }
    for kind, (edit, message) in forged.items():
        with CaseStore.open(tmp_path / kind) as store:
            with pytest.raises(StoreError, match=message):
                store.import_bundle(rewrite(bundle, tmp_path / f"{kind}.zip", consistent(edit)), "dave")
            assert store.list_cases().total == 0


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, bundle):
    def bomb(name, data):
        yield name, data, 0
        if name == "manifest.json":
            yield "reports/" + "c" * 64, b"\0" * 5_000_000, 0
    bombed = rewrite(bundle, tmp_path / "bomb.zip", bomb)
    assert bombed.stat().st_size < 200_000
    with CaseStore.open(tmp_path / "home") as store:
        with pytest.raises(StoreError, match="zip bomb"):
            store.import_bundle(bombed, "dave")
        with pytest.raises(StoreError, match="expand to"):
            store.import_bundle(bundle, "dave", limits=BundleLimits(total_bytes=1000))
        assert store.list_cases().total == 0


def test_not_a_zip_and_no_such_file(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    with CaseStore.open(tmp_path / "home") as store:
        with pytest.raises(StoreError, match="not a readable zip"):
            store.import_bundle(tmp_path / "fake.zip", "dave")
        with pytest.raises(StoreError) as missing:
            store.import_bundle(tmp_path / "absent.zip", "dave")
        assert missing.value.code == "not-found"


def test_a_tampered_evidence_file_is_never_exported(tmp_path):
    with CaseStore.open(tmp_path / "home") as store:
        intake = store.open_case_with_evidence("Tampered", png_bytes(3), "alice", original_name="a.png")
        stored = store.stored_path(intake.record.sha256)
        stored.chmod(0o644)
        stored.write_bytes(b"replaced")
        with pytest.raises(StoreError) as refused:
            store.export_bundle(intake.record.case_id, tmp_path / "out.zip", "alice")
        assert refused.value.code == "tampered"
        assert not (tmp_path / "out.zip").exists() and list(tmp_path.glob("*.partial")) == []


def test_a_bundle_from_before_region_notes_still_imports(tmp_path, bundle):
    """Schema 0002 bundles carry no region notes or file hashes in summaries: they import with empty notes."""
    def drop_new_fields(value):
        if isinstance(value, dict):
            return {k: drop_new_fields(v) for k, v in value.items() if k not in ("note", "file_hashes")}
        if isinstance(value, list):
            return [drop_new_fields(v) for v in value]
        return value

    with zipfile.ZipFile(bundle) as original:
        case = drop_new_fields(json.loads(original.read("case.json")))
        manifest = json.loads(original.read("manifest.json"))
    case["schema_revision"] = manifest["schema_revision"] = "0002"
    case_bytes = json.dumps(case).encode()
    manifest["files"]["case.json"] = {"sha256": hashlib.sha256(case_bytes).hexdigest(), "size": len(case_bytes)}
    replaced = {"case.json": case_bytes, "manifest.json": json.dumps(manifest).encode()}
    # Bundles were not signed then.
    older = rewrite(bundle, tmp_path / "older.zip",
                    lambda name, data: [] if name == "signature.json" else [(name, replaced.get(name, data), 0)])
    with CaseStore.open(tmp_path / "receiver") as store:
        imported = store.import_bundle(older, "dave", accept_unverified=True)
        regions = [r for a in store.get_case(imported.id).analyses for r in a.regions]
        assert regions and all(r.note == "" for r in regions)
