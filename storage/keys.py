"""This installation's signing key and the colleagues' keys it trusts.

Every data folder is one installation with its own Ed25519 key, created on
first use under keys/ (the private key 0600, never exported).  A bundle is
signed over its manifest, which holds the SHA-256 of every other member, so
one signature covers the whole case.  A colleague's public key is trusted
only by its full fingerprint, read out over another channel (a call, in
person): a file that arrives with the bundle proves nothing by itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from storage.errors import StoreError

KEY_FORMAT = "zoomin-public-key"
PRIVATE_KEY_FILE = "installation-ed25519.pem"
TRUSTED_FILE = "trusted.json"
# Signed messages start with this, so a bundle signature can never be replayed as anything else.
SIGNING_CONTEXT = b"zoomin-case-bundle-signature-v1\n"

SignerStatus = Literal["own", "trusted", "unknown", "unsigned"]


def fingerprint_of(public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, as 64 hex digits."""
    return hashlib.sha256(public_key).hexdigest()


def spaced(fingerprint: str) -> str:
    """A fingerprint in groups of four, to read aloud and compare."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


def normalise_fingerprint(text: str) -> str:
    digits = "".join(c for c in (text or "").lower() if c not in " :-\t")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise StoreError("a fingerprint is 64 hex digits (spaces and colons allowed); "
                         "`zoomin keys show` prints one", "invalid")
    return digits


@dataclass(frozen=True)
class PublicKey:
    raw: bytes
    label: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.raw)

    def to_json(self) -> dict[str, str]:
        return {"format": KEY_FORMAT, "algorithm": "ed25519", "label": self.label,
                "public_key": base64.b64encode(self.raw).decode("ascii"), "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, data: object, where: str) -> PublicKey:
        if not isinstance(data, dict) or data.get("format") != KEY_FORMAT or data.get("algorithm") != "ed25519":
            raise StoreError(f"{where} is not a ZoomIn public key (made by `zoomin keys export`)", "invalid")
        raw = decode_b64(data.get("public_key"), where)
        if len(raw) != 32:
            raise StoreError(f"{where}: an Ed25519 public key is 32 bytes", "invalid")
        label = data.get("label")
        return cls(raw, label[:200] if isinstance(label, str) else "")


@dataclass(frozen=True)
class Signer:
    """Who signed a bundle, as far as this installation can tell."""

    status: SignerStatus
    fingerprint: str = ""
    label: str = ""

    def describe(self) -> str:
        if self.status == "unsigned":
            return "the bundle is NOT signed: nobody vouches for where it came from"
        who = f" ({self.label})" if self.label else ""
        if self.status == "own":
            return f"signed by this installation's own key {spaced(self.fingerprint)}"
        if self.status == "trusted":
            return f"signed by the trusted key {spaced(self.fingerprint)}{who}"
        return (f"signed by an UNKNOWN key {spaced(self.fingerprint)}{who}: this installation has not trusted it "
                "(`zoomin keys trust`)")


def decode_b64(value: object, where: str) -> bytes:
    if not isinstance(value, str) or len(value) > 200:
        raise StoreError(f"{where}: a key or signature must be base64 text", "invalid")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise StoreError(f"{where}: not valid base64", "invalid") from None


class KeyRing:
    """The keys of the installation whose data folder is `home`."""

    def __init__(self, home: Path):
        self.folder = home / "keys"

    # ------------------------------------------------------------------ own key

    def private_key(self) -> Ed25519PrivateKey:
        """This installation's key, created (0600) the first time it is needed."""
        path = self.folder / PRIVATE_KEY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return self._create(path)
        except OSError as exc:
            raise StoreError(f"cannot read the signing key {path}: {exc.strerror or exc}", "storage") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise StoreError(f"the signing key {path} is damaged; nothing was signed", "tampered") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"the signing key {path} is not an Ed25519 key", "tampered")
        return key

    def public_key(self, label: str = "") -> PublicKey:
        raw = self.private_key().public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
        return PublicKey(raw, label)

    def sign(self, message: bytes) -> tuple[PublicKey, bytes]:
        key = self.private_key()
        return self.public_key(), key.sign(SIGNING_CONTEXT + message)

    def _create(self, path: Path) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            self._write_private(path, pem, exclusive=True)
        except FileExistsError:  # another process made it first: theirs is the key
            return self.private_key()
        return key

    # ------------------------------------------------------------------ trusted keys

    def trusted(self) -> dict[str, PublicKey]:
        path = self.folder / TRUSTED_FILE
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"the list of trusted keys {path} cannot be read ({exc})", "tampered") from None
        keys = {}
        for entry in data.get("keys", []) if isinstance(data, dict) else []:
            key = PublicKey.from_json(entry, str(path))
            keys[key.fingerprint] = key
        return keys

    def trust(self, key: PublicKey, expected_fingerprint: str) -> PublicKey:
        """Trust `key` only if its fingerprint is the one the sender read out."""
        if normalise_fingerprint(expected_fingerprint) != key.fingerprint:
            raise StoreError(f"the key's fingerprint is {spaced(key.fingerprint)}, not the one you were given: "
                             "it is NOT trusted (it may not be your colleague's key)", "invalid")
        if key.raw == self.public_key().raw:
            raise StoreError("that is this installation's own key; it is trusted already", "invalid")
        keys = self.trusted()
        keys[key.fingerprint] = key
        self._save_trusted(keys)
        return key

    def untrust(self, fingerprint: str) -> PublicKey:
        wanted = normalise_fingerprint(fingerprint)
        keys = self.trusted()
        if wanted not in keys:
            raise StoreError(f"no trusted key has the fingerprint {spaced(wanted)}", "not-found")
        removed = keys.pop(wanted)
        self._save_trusted(keys)
        return removed

    def identify(self, raw_public_key: bytes) -> Signer:
        fingerprint = fingerprint_of(raw_public_key)
        if (self.folder / PRIVATE_KEY_FILE).exists() and raw_public_key == self.public_key().raw:
            return Signer("own", fingerprint)
        known = self.trusted().get(fingerprint)
        if known is not None:
            return Signer("trusted", fingerprint, known.label)
        return Signer("unknown", fingerprint)

    def _save_trusted(self, keys: dict[str, PublicKey]) -> None:
        body = json.dumps({"keys": [k.to_json() for k in sorted(keys.values(), key=lambda k: k.fingerprint)]},
                          indent=1).encode("utf-8")
        self._write_private(self.folder / TRUSTED_FILE, body, exclusive=False)

    def _write_private(self, path: Path, data: bytes, exclusive: bool) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.folder)  # 0600
            try:
                with os.fdopen(handle, "wb") as writer:
                    writer.write(data)
                    writer.flush()
                    os.fsync(writer.fileno())
                if exclusive:
                    os.link(partial, path)  # never replaces a key that is already there
                else:
                    os.replace(partial, path)
            finally:
                Path(partial).unlink(missing_ok=True)
        except FileExistsError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}", "storage") from None


def verify_signature(raw_public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw_public_key).verify(signature, SIGNING_CONTEXT + message)
    except (InvalidSignature, ValueError):
        return False
    return True


def read_public_key_file(path: Path) -> PublicKey:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file", "not-found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} cannot be read ({exc})", "invalid") from None
    if len(text) > 10_000:
        raise StoreError(f"{path} is not a ZoomIn public key (too large)", "invalid")
    try:
        data = json.loads(text)
    except ValueError:
        raise StoreError(f"{path} is not a ZoomIn public key (made by `zoomin keys export`)", "invalid") from None
    return PublicKey.from_json(data, str(path))
