"""The case bundle: one zip that carries a case to another installation.

    manifest.json         format, version, schema revision, who/when, and the
                          SHA-256 and size of every other member
    case.json             the case's records (storage.serialization)
    evidence/<sha256>     each evidence file, named by its own hash
    reports/<sha256>      each recorded report

Reading is defensive: a member name must be one of those forms exactly (no
absolute path, no "..", no backslash), no symlinks, no duplicate names, no
member the manifest does not list or listed member missing, sizes within
limits, and every byte hashed against the manifest while it is extracted.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import StoreError
from storage.migrate import is_known_revision

BUNDLE_FORMAT = "zoomin-case-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
CASE_JSON = "case.json"
_MEMBER = re.compile(r"^(case\.json|(evidence|reports)/[0-9a-f]{64})$")


@dataclass(frozen=True)
class BundleLimits:
    """What an import accepts at most (guards against zip bombs)."""

    total_bytes: int = 16 << 30
    case_json_bytes: int = 256 << 20
    manifest_bytes: int = 4 << 20
    members: int = 100_000
    compression_ratio: float = 1000.0


@dataclass(frozen=True)
class Manifest:
    schema_revision: str
    files: dict[str, tuple[str, int]]  # member name -> (sha256, size)
    raw: dict[str, Any]
    sha256: str


def bad(message: str) -> StoreError:
    return StoreError(f"bundle refused, nothing imported: {message}", "bad-bundle")


def check_members(archive: zipfile.ZipFile, limits: BundleLimits) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.members:
        raise bad(f"{len(infos)} members (at most {limits.members})")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise bad(f"member {name!r} has an absolute path")
        if "\\" in name or ".." in name.split("/"):
            raise bad(f"member {name!r} points outside the bundle")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise bad(f"member {name!r} is a symbolic link")
        if info.is_dir():
            continue
        if name in members:
            raise bad(f"member {name!r} appears twice")
        if name != MANIFEST and not _MEMBER.match(name):
            raise bad(f"unexpected member {name!r}")
        if info.compress_size and info.file_size / info.compress_size > limits.compression_ratio:
            raise bad(f"member {name!r} expands {info.file_size / info.compress_size:.0f}-fold (a zip bomb?)")
        total += info.file_size
        members[name] = info
    if total > limits.total_bytes:
        raise bad(f"it would expand to {total} bytes (at most {limits.total_bytes})")
    return members


def read_manifest(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                  limits: BundleLimits) -> Manifest:
    if MANIFEST not in members:
        raise bad("it has no manifest.json (not a ZoomIn case bundle)")
    data = read_member(archive, members[MANIFEST], limits.manifest_bytes)
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"manifest.json is not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        raise bad("manifest.json does not describe a ZoomIn case bundle")
    if raw.get("version") != BUNDLE_VERSION:
        raise bad(f"bundle format version {raw.get('version')!r} is not supported (this ZoomIn reads "
                  f"version {BUNDLE_VERSION}); a newer ZoomIn made it")
    revision = raw.get("schema_revision")
    if not isinstance(revision, str) or not is_known_revision(revision):
        raise bad(f"it was written with case-store schema {revision!r}, unknown to this ZoomIn (a newer "
                  "version made it)")
    listed = raw.get("files")
    if not isinstance(listed, dict):
        raise bad("manifest.json lists no files")
    files: dict[str, tuple[str, int]] = {}
    for name, entry in listed.items():
        if not _MEMBER.match(str(name)):
            raise bad(f"manifest lists an unexpected member {name!r}")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not isinstance(entry.get("size"), int) or entry["size"] < 0:
            raise bad(f"manifest entry for {name!r} needs a sha256 and a size")
        if name != CASE_JSON and name.split("/", 1)[1] != entry["sha256"]:
            raise bad(f"{name!r} is not named by its SHA-256 {entry['sha256']}")
        files[name] = (entry["sha256"], entry["size"])
    present = set(members) - {MANIFEST}
    if present - set(files):
        raise bad(f"members not in the manifest: {sorted(present - set(files))[:5]}")
    if set(files) - present:
        raise bad(f"members in the manifest but not in the zip: {sorted(set(files) - present)[:5]}")
    if CASE_JSON not in files:
        raise bad("it has no case.json")
    for name, (_, size) in files.items():
        if members[name].file_size != size:
            raise bad(f"{name!r} is {members[name].file_size} bytes, the manifest says {size}")
    return Manifest(schema_revision=revision, files=files, raw=raw, sha256=hashlib.sha256(data).hexdigest())


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise bad(f"{info.filename!r} is larger than {limit} bytes")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise bad(f"{info.filename!r} cannot be read ({exc})") from None
    if len(data) > limit:
        raise bad(f"{info.filename!r} is larger than {limit} bytes")
    return data


def extract_checked(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sha256: str, size: int,
                    destination: Path) -> None:
    """Write one member to `destination`, never more than `size` bytes, and
    refuse it unless its SHA-256 is the manifest's."""
    digest = hashlib.sha256()
    written = 0
    try:
        with archive.open(info) as reader, open(destination, "xb") as writer:
            while chunk := reader.read(1 << 20):
                written += len(chunk)
                if written > size:
                    raise bad(f"{info.filename!r} holds more bytes than the manifest says")
                digest.update(chunk)
                writer.write(chunk)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise bad(f"{info.filename!r} cannot be read ({exc})") from None
    except OSError as exc:
        raise StoreError(f"cannot unpack the bundle into the data folder: {exc.strerror or exc}; "
                         "nothing was imported", "storage") from None
    if written != size or digest.hexdigest() != sha256:
        raise bad(f"{info.filename!r} does not match its SHA-256 in the manifest (altered in transit?)")


def open_bundle(source: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError:
        raise StoreError(f"{source}: no such file", "not-found") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise bad(f"{source} is not a readable zip file ({exc})") from None
