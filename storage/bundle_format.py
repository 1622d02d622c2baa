"""The case bundle: one zip that carries a case to another installation.

    manifest.json         format, version, schema revision, who/when, and the
                          SHA-256 and size of every other member
    case.json             the case's records (storage.serialization)
    evidence/<sha256>     each evidence file, named by its own hash
    reports/<sha256>      each recorded report
    signature.json        the exporting installation's Ed25519 signature over
                          manifest.json (storage.keys), so over every member

Reading is defensive: a member name must be one of those forms exactly (no
absolute path, no "..", no backslash), no symlinks, no duplicate names, no
member the manifest does not list or listed member missing, sizes within
limits, no encrypted member, and every byte hashed against the manifest
while it is extracted.  Sizes are checked against the manifest before a byte
is written, an evidence file must start like an image, and extraction stops
at the manifest's size, so a forged bundle cannot fill the disk.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.bundle_schema import bad, loads_bounded
from storage.errors import StoreError
from storage.migrate import is_known_revision

BUNDLE_FORMAT = "zoomin-case-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
CASE_JSON = "case.json"
SIGNATURE = "signature.json"
# Read before anything else is trusted; never listed in the manifest (it signs the manifest).
_UNLISTED = (MANIFEST, SIGNATURE)
# How each image format begins: an evidence file that does not is refused before it is unpacked.
_IMAGE_STARTS = {
    "JPEG": (b"\xff\xd8\xff",), "MPO": (b"\xff\xd8\xff",), "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"), "BMP": (b"BM",), "TIFF": (b"II*\x00", b"MM\x00*"),
}
_MEMBER = re.compile(r"^(case\.json|(evidence|reports)/[0-9a-f]{64})$")


@dataclass(frozen=True)
class BundleLimits:
    """What an import accepts at most (guards against zip bombs)."""

    total_bytes: int = 16 << 30
    case_json_bytes: int = 256 << 20
    manifest_bytes: int = 4 << 20
    members: int = 100_000
    compression_ratio: float = 1000.0
    # Images arrive compressed already (export stores them as they are): an
    # evidence member that inflates more than this is not a photograph.
    evidence_compression_ratio: float = 50.0
    signature_bytes: int = 4096


@dataclass(frozen=True)
class Manifest:
    schema_revision: str
    files: dict[str, tuple[str, int]]  # member name -> (sha256, size)
    raw: dict[str, Any]
    sha256: str
    data: bytes = b""  # exactly as read: the signature is over these bytes


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
        if info.flag_bits & 0x1:
            raise bad(f"member {name!r} is encrypted; ZoomIn bundles are never encrypted")
        if name not in _UNLISTED and not _MEMBER.match(name):
            raise bad(f"unexpected member {name!r}")
        if info.compress_size and info.file_size / info.compress_size > limits.compression_ratio:
            raise bad(f"member {name!r} expands {info.file_size / info.compress_size:.0f}-fold (a zip bomb?)")
        if name.startswith("evidence/") and info.compress_size and \
                info.file_size / info.compress_size > limits.evidence_compression_ratio:
            raise bad(f"evidence member {name!r} expands {info.file_size / info.compress_size:.0f}-fold: "
                      "not an image as stored (a zip bomb?)")
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
    raw, _ = loads_bounded(data, "manifest.json")
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
    present = set(members) - set(_UNLISTED)
    if present - set(files):
        raise bad(f"members not in the manifest: {sorted(present - set(files))[:5]}")
    if set(files) - present:
        raise bad(f"members in the manifest but not in the zip: {sorted(set(files) - present)[:5]}")
    if CASE_JSON not in files:
        raise bad("it has no case.json")
    for name, (_, size) in files.items():
        if members[name].file_size != size:
            raise bad(f"{name!r} is {members[name].file_size} bytes, the manifest says {size}")
    return Manifest(schema_revision=revision, files=files, raw=raw, sha256=hashlib.sha256(data).hexdigest(),
                    data=data)


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


def check_room(folder: Path, needed: int) -> None:
    """Refuse before unpacking when the data folder's disk cannot hold the files twice
    (a staged copy, then the stored one) with room to spare."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if 2 * needed + (64 << 20) > free:
        raise StoreError(f"the bundle's files need {2 * needed} bytes while unpacked and the data folder's disk "
                         f"has {free} free; nothing was imported", "storage")


def extract_checked(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sha256: str, size: int,
                    destination: Path, image_format: str | None = None) -> None:
    """Write one member to `destination`, never more than `size` bytes, and
    refuse it unless its SHA-256 is the manifest's.  With `image_format`, the
    first bytes must be that format's, checked before anything is written."""
    digest = hashlib.sha256()
    written = 0
    try:
        with archive.open(info) as reader, open(destination, "xb") as writer:
            while chunk := reader.read(1 << 20):
                if written == 0 and image_format is not None:
                    check_image_start(info.filename, chunk, image_format)
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


def check_image_start(name: str, head: bytes, image_format: str) -> None:
    fmt = image_format.upper()
    if fmt == "WEBP":
        fits = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    elif fmt in ("HEIF", "AVIF"):
        fits = head[4:8] == b"ftyp"
    else:
        fits = any(head.startswith(start) for start in _IMAGE_STARTS.get(fmt, (b"",)))
    if not fits:
        raise bad(f"{name!r} is recorded as a {fmt} image but does not begin like one")


def open_bundle(source: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError:
        raise StoreError(f"{source}: no such file", "not-found") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise bad(f"{source} is not a readable zip file ({exc})") from None
