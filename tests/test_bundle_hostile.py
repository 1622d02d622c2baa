"""Hostile bundles (issue 12): an encrypted member, JSON nested 100k deep,
lone surrogates, records that do not fit, evidence that is not the image
it claims, members that would fill the disk, bad, missing and unknown
signatures; and a round trip between two installations that trust each
other's keys.  Each refusal is one clear line, and nothing is imported."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from exports.report import export_case_report
from models.sample_images import camera_like_photo, encode
from storage import BackendInfo, CaseStore, StoreError
from storage.keys import KeyRing
from tests.storage_backends import model_result, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)


def build_case(store: CaseStore, title: str = "Harbour fire") -> int:
    intake = store.open_case_with_evidence(title, png_bytes(41), "alice", original_name="fire.png")
    case_id = intake.record.case_id
    run = store.start_analysis(case_id, intake.record.id, BackendInfo("evidence", "v1"), "alice")
    done = store.finish_analysis(run.id, model_result(intake.record.sha256, regions=2))
    store.edit_region(done.regions[0].id, "bob", status="confirmed", note="pasted")
    return case_id


@pytest.fixture(scope="module")
def sender(tmp_path_factory) -> tuple[Path, Path]:
    """(the sender's data folder, a bundle it exported)."""
    folder = tmp_path_factory.mktemp("sender")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_URL", raising=False)
        with CaseStore.open(folder / "home") as store:
            store.export_bundle(build_case(store), folder / "case.zip", "alice")
    return folder / "home", folder / "case.zip"


def members_of(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def forge(bundle: Path, target: Path, edit_case=None, evidence=None, sign_with: KeyRing | None = None,
          keep_signature: bool = False) -> Path:
    """A forger's copy: case.json edited, evidence replaced (old sha -> new bytes), every hash in the
    manifest made consistent; signed with `sign_with`, or unsigned."""
    members = members_of(bundle)
    case = json.loads(members["case.json"])
    for old_sha, data in (evidence or {}).items():
        new_sha = hashlib.sha256(data).hexdigest()
        del members[f"evidence/{old_sha}"]
        members[f"evidence/{new_sha}"] = data
        for item in case["case"]["evidence_files"]:
            if item["sha256"] == old_sha:
                item.update(sha256=new_sha, size_bytes=len(data))
        for analysis in case["case"]["analyses"]:
            if analysis["raw_output"] and analysis["raw_output"]["sha256"] == old_sha:
                analysis["raw_output"].update(sha256=new_sha, size_bytes=len(data))
    if edit_case is not None:
        edit_case(case)
    members["case.json"] = case if isinstance(case, bytes) else json.dumps(case).encode()
    return rebuild(members, target, sign_with, keep_signature)


def rebuild(members: dict[str, bytes], target: Path, sign_with: KeyRing | None = None,
            keep_signature: bool = False) -> Path:
    manifest = json.loads(members["manifest.json"])
    manifest["files"] = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                         for name, data in members.items() if name not in ("manifest.json", "signature.json")}
    members["manifest.json"] = json.dumps(manifest).encode()
    if not keep_signature:
        members.pop("signature.json", None)
    if sign_with is not None:
        from storage.bundle_signature import signature_member

        members["signature.json"] = signature_member(sign_with, members["manifest.json"], "forger")
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name.startswith("evidence/") else zipfile.ZIP_DEFLATED)
    return target


def evidence_sha(bundle: Path) -> str:
    return next(name.split("/")[1] for name in members_of(bundle) if name.startswith("evidence/"))


def refused(home: Path, bundle: Path, match: str, accept_unverified: bool = True) -> StoreError:
    with CaseStore.open(home) as store:
        with pytest.raises(StoreError) as caught:
            store.import_bundle(bundle, "dave", accept_unverified=accept_unverified)
        assert match in str(caught.value), str(caught.value)
        assert "\n" not in str(caught.value)
        assert store.list_cases().total == 0
    objects, scratch = home / "objects", home / "tmp"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))
    assert not scratch.exists() or not any(scratch.iterdir())
    return caught.value


# ---------------------------------------------------------------------- the zip itself


def test_an_encrypted_flag_member_is_refused_with_a_clear_message(tmp_path, sender):
    data = bytearray(sender[1].read_bytes())
    # Set bit 0 (encrypted) of case.json's general-purpose flags, in its local and central headers.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 9] == b"case.json":
                flags = struct.unpack_from("<H", data, at + offset)[0]
                struct.pack_into("<H", data, at + offset, flags | 0x1)
            at += 4
    hostile = tmp_path / "encrypted.zip"
    hostile.write_bytes(bytes(data))
    error = refused(tmp_path / "home", hostile, "'case.json' is encrypted")
    assert error.code == "bad-bundle"


@pytest.mark.parametrize("member", ["case.json", "manifest.json"])
def test_json_nested_100k_deep_is_refused_without_recursion_error(tmp_path, sender, member):
    deep = b"[" * 100_000 + b"]" * 100_000
    if member == "case.json":
        hostile = forge(sender[1], tmp_path / "deep.zip", edit_case=lambda c: None)
        members = members_of(hostile)
        members["case.json"] = deep
        hostile = rebuild(members, tmp_path / "deep.zip")
    else:
        members = members_of(sender[1])
        members["manifest.json"] = deep
        hostile = tmp_path / "deep.zip"
        with zipfile.ZipFile(hostile, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data, zipfile.ZIP_DEFLATED)
    refused(tmp_path / "home", hostile, f"{member} nests deeper than 64 levels")


def test_lone_surrogates_are_made_safe_and_the_import_says_so(tmp_path, sender):
    def surrogates(case):
        case["case"]["summary"]["title"] = "Harbour \ud800fire"
        case["case"]["analyses"][0]["regions"][0]["label"] = "cue \udfff"
    hostile = forge(sender[1], tmp_path / "surrogates.zip", surrogates)
    assert b"\\ud800" in members_of(hostile)["case.json"]
    with CaseStore.open(tmp_path / "home") as store:
        imported = store.import_bundle(hostile, "dave", accept_unverified=True)
        detail = store.get_case(imported.id)
        assert detail.summary.title == "Harbour \ufffdfire"
        event = detail.history[-1]
        assert event.action == "case-imported" and "2 invalid characters" in event.after["repairs"]
        assert event.after["signature"] == "unsigned"
        assert store.verify() == []


# ---------------------------------------------------------------------- records that do not fit


def _analysis(c):
    return c["case"]["analyses"][0]


SCHEMA_VIOLATIONS = {
    "timings-not-numbers": (lambda c: _analysis(c)["timings"].update(provenance={}), "timings.provenance"),
    "score-out-of-range": (lambda c: _analysis(c).update(score=7.5), "outside 0..1"),
    "region-score": (lambda c: _analysis(c)["regions"][0].update(score=-1), "outside 0..1"),
    "negative-timing": (lambda c: _analysis(c)["timings"].update(total=-3), "not a duration"),
    "title-too-long": (lambda c: c["case"]["summary"].update(title="t" * 501), "at most 500"),
    "huge-note": (lambda c: c["case"].update(notes="n" * 1_000_001), "at most 1000000"),
    "empty-analyst": (lambda c: c["case"]["summary"].update(created_by="  "), "is empty"),
    "box-outside-image": (lambda c: _analysis(c)["regions"][0].update(box=[0, 0, 5000, 10]), "outside its"),
    "unknown-format": (lambda c: c["case"]["evidence_files"][0].update(format="HTML"), "not an image format"),
    "bad-sha": (lambda c: c["case"]["reports"].append({**_report(c), "sha256": "../../etc"}), "no valid SHA-256"),
    "output-not-an-analysis": (lambda c: _analysis(c)["raw_output"].pop("verdict"), "output: verdict is missing"),
    "output-wrong-types": (lambda c: _analysis(c)["raw_output"].update(regions={"a": 1}), "expected list"),
    "output-other-image": (lambda c: _analysis(c)["raw_output"].update(sha256="0" * 64), "another image"),
    "software-not-text": (lambda c: _analysis(c)["software"].update(python=[3, 11]), "expected str"),
    "list-for-dict": (lambda c: c["case"].update(summary=[]), "expected dict"),
    "negative-size": (lambda c: c["case"]["evidence_files"][0].update(width=-5), "positive size"),
    "finished-before-start": (lambda c: _analysis(c).update(finished_at="2000-01-01T00:00:00+00:00"),
                              "finished before it started"),
}


def _report(case):
    return {"id": 9, "case_id": 1, "analysis_id": None, "file_name": "r.pdf", "sha256": "a" * 64, "size_bytes": 1,
            "created_by": "x", "created_at": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("kind", sorted(SCHEMA_VIOLATIONS))
def test_records_that_do_not_fit_are_refused_before_anything_is_written(tmp_path, sender, kind):
    edit, message = SCHEMA_VIOLATIONS[kind]
    hostile = forge(sender[1], tmp_path / f"{kind}.zip", edit)
    assert refused(tmp_path / "home", hostile, message).code == "bad-bundle"


ATTEMPTS = 60


def test_the_report_builder_only_ever_sees_validated_records(tmp_path, sender):
    """Random type and value mutations of case.json: each is refused at import, or it imports and the
    report exports (the failure mode was 'imports fine, then crashes zoomin report')."""
    original = json.loads(members_of(sender[1])["case.json"])
    paths = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value[:3]):
                walk(item, (*path, index))
        if path[:1] == ("case",) and len(path) > 1:
            paths.append(path)
    walk(original, ())
    replacements = [{}, [], "", None, True, -1, 10**30, 1e308, "x" * 600, [1, 2, 3, 4], {"a": {}}]
    chooser = random.Random(12)
    imported = 0
    for attempt in range(ATTEMPTS):
        path, value = chooser.choice(paths), chooser.choice(replacements)

        def mutate(case, path=path, value=value):
            target = case
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        hostile = forge(sender[1], tmp_path / f"fuzz-{attempt}.zip", mutate)
        with CaseStore.open(tmp_path / f"home-{attempt}") as store:
            try:
                case = store.import_bundle(hostile, "dave", accept_unverified=True)
            except StoreError as exc:
                assert exc.code == "bad-bundle" and "\n" not in str(exc), (path, value, exc)
                continue
            imported += 1
            report = export_case_report(store, case.id, tmp_path / f"fuzz-{attempt}.pdf", "dave")
            assert report.path.read_bytes().startswith(b"%PDF"), (path, value)
    assert 0 < imported < ATTEMPTS  # most mutations are refused; the harmless rest still make a report


# ---------------------------------------------------------------------- evidence


def _jpeg() -> bytes:
    return encode(camera_like_photo(96, 64, seed=3), "JPEG")


NOT_THE_IMAGE = {
    "html-with-consistent-hashes": (b"<!doctype html><html><body><script>alert(1)</script></body></html>",
                                    "does not begin like one"),
    "png-header-then-html": (b"\x89PNG\r\n\x1a\n<html>not really</html>" * 4, "is not a readable image"),
    "a-jpeg-recorded-as-png": (None, "does not begin like one"),
    "another-size": (png_bytes(7, width=50, height=50), "is a PNG 50x50"),
}


@pytest.mark.parametrize("kind", sorted(NOT_THE_IMAGE))
def test_evidence_must_decode_as_the_image_its_record_describes(tmp_path, sender, kind):
    data, message = NOT_THE_IMAGE[kind]
    hostile = forge(sender[1], tmp_path / f"{kind}.zip", evidence={evidence_sha(sender[1]): data or _jpeg()})
    refused(tmp_path / "home", hostile, message)


# ---------------------------------------------------------------------- size


def test_an_inflating_evidence_member_is_refused_before_it_is_unpacked(tmp_path, sender):
    # 32 MB that deflates ~90-fold: under the general bomb limit, far over any image's.
    sparse = np.zeros(32 << 20, np.uint8)
    noise = np.random.default_rng(0)
    spots = noise.integers(0, sparse.size, sparse.size // 400)
    sparse[spots] = noise.integers(0, 256, spots.size)
    big = b"\x89PNG\r\n\x1a\n" + sparse.tobytes()
    members = members_of(forge(sender[1], tmp_path / "big.zip", evidence={evidence_sha(sender[1]): big}))
    hostile = tmp_path / "big-deflated.zip"
    rebuilt = rebuild(members, tmp_path / "tmp-big.zip")
    with zipfile.ZipFile(rebuilt) as source, zipfile.ZipFile(hostile, "w") as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    assert hostile.stat().st_size < 1 << 20  # under 1 MB on the wire
    refused(tmp_path / "home", hostile, "not an image as stored")


def test_sizes_are_checked_against_the_manifest_before_extraction(tmp_path, sender):
    members = members_of(sender[1])
    manifest = json.loads(members["manifest.json"])
    name = next(n for n in manifest["files"] if n.startswith("evidence/"))
    manifest["files"][name]["size"] = 10**9  # a forged size: nothing is unpacked to find out
    members["manifest.json"] = json.dumps(manifest).encode()
    hostile = tmp_path / "lying.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    refused(tmp_path / "home", hostile, "the manifest says 1000000000")


def test_a_bundle_the_disk_cannot_hold_is_refused_before_unpacking(tmp_path, sender, monkeypatch):
    import shutil

    from storage import bundle_format

    real = shutil.disk_usage
    monkeypatch.setattr(bundle_format.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    refused(tmp_path / "home", forge(sender[1], tmp_path / "fits.zip"), "has 1000 free")


# ---------------------------------------------------------------------- signatures


def test_an_unsigned_bundle_is_refused_unless_accepted_and_then_said(tmp_path, sender):
    unsigned = forge(sender[1], tmp_path / "unsigned.zip")
    error = refused(tmp_path / "home", unsigned, "NOT signed", accept_unverified=False)
    assert error.code == "unverified" and "--accept-unverified" in str(error)
    with CaseStore.open(tmp_path / "home") as store:
        case = store.import_bundle(unsigned, "dave", accept_unverified=True)
        assert store.get_case(case.id).history[-1].after["signature"] == "unsigned"


def test_a_bundle_from_an_unknown_key_is_refused_naming_its_fingerprint(tmp_path, sender):
    own_key = KeyRing(sender[0]).public_key()
    error = refused(tmp_path / "home", sender[1], own_key.fingerprint[:4], accept_unverified=False)
    assert "UNKNOWN key" in str(error) and error.code == "unverified"
    with CaseStore.open(tmp_path / "home") as store:
        assert store.bundle_signer(sender[1]).fingerprint == own_key.fingerprint


def test_a_bad_signature_is_always_refused(tmp_path, sender):
    members = members_of(sender[1])
    manifest = json.loads(members["manifest.json"])
    manifest["exported_by"] = "someone else"  # altered after signing
    members["manifest.json"] = json.dumps(manifest).encode()
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(altered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    refused(tmp_path / "home", altered, "signature does not hold")
    # A signature by one key presented with another key's name.
    forger = KeyRing(tmp_path / "forger")
    members = members_of(forge(sender[1], tmp_path / "forged.zip", sign_with=forger))
    signature = json.loads(members["signature.json"])
    signature["public_key"] = KeyRing(sender[0]).public_key().to_json()["public_key"]
    signature["fingerprint"] = KeyRing(sender[0]).public_key().fingerprint
    members["signature.json"] = json.dumps(signature).encode()
    swapped = rebuild(members, tmp_path / "swapped.zip", keep_signature=True)
    refused(tmp_path / "home", swapped, "signature does not hold")
    members["signature.json"] = b'{"format": "zoomin-bundle-signature", "algorithm": "rsa"}'
    refused(tmp_path / "home", rebuild(members, tmp_path / "garbage.zip", keep_signature=True),
            "not a ZoomIn bundle signature")


def test_two_installations_that_trust_each_other_exchange_cases(tmp_path):
    alice_home, bob_home = tmp_path / "alice", tmp_path / "bob"
    with CaseStore.open(alice_home) as alice, CaseStore.open(bob_home) as bob:
        alice_key, bob_key = alice.keys.public_key("Alice"), bob.keys.public_key("Bob")
        alice.keys.trust(bob_key, bob_key.fingerprint)
        bob.keys.trust(alice_key, " ".join(alice_key.fingerprint[i:i + 4] for i in range(0, 64, 4)))
        with pytest.raises(StoreError, match="not the one you were given"):
            bob.keys.trust(alice_key, "0" * 64)
        alice.export_bundle(build_case(alice, "From Alice"), tmp_path / "from-alice.zip", "alice")
        bob.export_bundle(build_case(bob, "From Bob"), tmp_path / "from-bob.zip", "bob")

        at_bob = bob.import_bundle(tmp_path / "from-alice.zip", "bob")
        at_alice = alice.import_bundle(tmp_path / "from-bob.zip", "alice")
        assert at_bob.title == "From Alice" and at_alice.title == "From Bob"
        event = bob.get_case(at_bob.id).history[-1]
        assert event.after["signature"] == "trusted" and event.after["signer_fingerprint"] == alice_key.fingerprint
        with alice._db.engine.connect() as connection:  # the head the sender's record had when it exported
            exported_from = connection.execute(text(
                "SELECT chain_prev FROM audit_events WHERE action = 'case-exported'")).scalar_one()
        assert event.after["sender_chain_head"] == exported_from
        assert "Alice" in bob.bundle_signer(tmp_path / "from-alice.zip").describe()
        assert alice.verify() == [] and bob.verify() == []

        bob.keys.untrust(alice_key.fingerprint)
        assert bob.bundle_signer(tmp_path / "from-alice.zip").status == "unknown"
    key_file = alice_home / "keys" / "installation-ed25519.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600 and (alice_home / "keys").stat().st_mode & 0o777 == 0o700


# ---------------------------------------------------------------------- the depth measure itself

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab"\\[]{}:,\n')),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=20)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_nesting_is_measured_exactly_whatever_the_strings_hold(value):
    """Brackets, quotes and backslashes inside strings never count; the measure never under-counts."""
    from storage.bundle_schema import nesting_depth

    assert nesting_depth(json.dumps(value), limit=10_000) == _depth(value)
