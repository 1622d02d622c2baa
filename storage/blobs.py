"""Evidence files and reports, stored content-addressed by SHA-256.

A file is written once under objects/<first two hex>/<sha256>, made
read-only, and never rewritten: a second write of the same content checks
the copy already there instead.  A copy whose content no longer matches its
name is reported, never "repaired".  Writes go to a temporary file in the
same folder tree first and are linked into place only when complete, so a
full disk or a crash never leaves a partial file under a real name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NamedTuple

from storage.errors import StoreError

READ_ONLY = 0o400  # the owner reads; nobody writes, nobody else reads
CHUNK = 1 << 20


def sha256_of_file(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Stored(NamedTuple):
    sha256: str
    size: int
    created: bool  # False: the same content was already stored (and checked)


def is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class BlobStore:
    """The files under a data folder, addressed by their SHA-256."""

    def __init__(self, home: Path):
        self.home = home
        self.objects = home / "objects"
        self.scratch = home / "tmp"

    def path_for(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise StoreError(f"not a SHA-256 digest: {sha256!r}", "invalid")
        return self.objects / sha256[:2] / sha256

    def put_bytes(self, data: bytes) -> Stored:
        """Store `data` (a no-op check when the same content is already there)."""
        sha256 = hashlib.sha256(data).hexdigest()
        with self._staged_file() as (handle, staged):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            return Stored(sha256, len(data), self._place(staged, sha256))

    def put_file(self, source: Path, expected_sha256: str | None = None) -> Stored:
        """Copy a file into the store, hashing it on the way; with
        `expected_sha256`, refuse a file whose content differs."""
        try:
            reader = open(source, "rb")
        except OSError as exc:
            raise StoreError(f"{source}: cannot be read ({exc.strerror or exc})", "not-found") from None
        digest = hashlib.sha256()
        size = 0
        with reader, self._staged_file() as (handle, staged):
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise StoreError(f"{source.name}: content has SHA-256 {sha256}, expected {expected_sha256}",
                                 "tampered")
            return Stored(sha256, size, self._place(staged, sha256))

    def remove_unreferenced(self, sha256: str) -> None:
        """Take back a file this process just created when the database step
        that was to reference it failed."""
        path = self.path_for(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def check(self, sha256: str, size: int) -> tuple[str, str] | None:
        """None when the stored copy matches; otherwise (kind, actual value)."""
        path = self.path_for(sha256)
        if not path.is_file():
            return "missing", ""
        actual, actual_size = sha256_of_file(path)
        if actual != sha256:
            return "hash-mismatch", actual
        if actual_size != size:
            return "size-mismatch", str(actual_size)
        return None

    @contextmanager
    def staging_folder(self, prefix: str) -> Iterator[Path]:
        """A private folder inside the data folder (same file system, so a
        staged file can be linked into place), removed afterwards."""
        self._make_dirs(self.scratch)
        try:
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=self.scratch))
        except OSError as exc:
            raise _storage_error(self.scratch, exc) from None
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _staged_file(self) -> Iterator[tuple[IO[bytes], Path]]:
        self._make_dirs(self.scratch)
        staged: Path | None = None
        try:
            fd, name = tempfile.mkstemp(prefix="incoming-", dir=self.scratch)
            staged = Path(name)
            with os.fdopen(fd, "wb") as handle:
                yield handle, staged
        except OSError as exc:
            raise _storage_error(self.home, exc) from None
        finally:
            if staged is not None:
                try:
                    staged.unlink()
                except FileNotFoundError:
                    pass

    def _place(self, staged: Path, sha256: str) -> bool:
        """Link a complete staged file into place; True if it was not there yet."""
        final = self.path_for(sha256)
        self._make_dirs(final.parent)
        os.chmod(staged, READ_ONLY)
        try:
            os.link(staged, final)  # atomic, and never replaces an existing file
        except FileExistsError:
            self._confirm_existing(final, sha256)
            return False
        except OSError:
            # File systems without hard links: an exclusive copy then a rename.
            if final.exists():
                self._confirm_existing(final, sha256)
                return False
            partial = final.with_name(f".{sha256}.partial-{os.getpid()}")
            shutil.copyfile(staged, partial)
            os.chmod(partial, READ_ONLY)
            os.replace(partial, final)
        _fsync_folder(final.parent)
        return True

    def _confirm_existing(self, final: Path, sha256: str) -> None:
        actual, _ = sha256_of_file(final)
        if actual != sha256:
            raise StoreError(
                f"the stored copy {final} no longer matches its SHA-256 ({actual}): the evidence store was "
                "altered. It is left as found; run `zoomin verify`.", "tampered")

    def _make_dirs(self, folder: Path) -> None:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _storage_error(folder, exc) from None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform; the link itself is already durable enough
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _storage_error(where: Path, exc: OSError) -> StoreError:
    reason = exc.strerror or str(exc)
    return StoreError(f"cannot write in the data folder {where}: {reason}; nothing was saved", "storage")
