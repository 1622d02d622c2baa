"""Signing a bundle on export and checking its signature on import.

signature.json holds the exporting installation's public key, its
fingerprint, and an Ed25519 signature over manifest.json's exact bytes;
the manifest holds the SHA-256 and size of every other member, so one
signature covers the case record, every evidence file and every report.

On import a bad signature is always refused: the bundle was altered after
it was signed.  An unsigned bundle, or one signed by a key this
installation has not trusted, is refused too unless the analyst accepts it
explicitly (`--accept-unverified`); then the case record says so in its
import event, and the command says so in plain words.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile

from storage import bundle_format as fmt
from storage.errors import StoreError
from storage.keys import KeyRing, Signer, decode_b64, fingerprint_of, spaced, verify_signature

SIGNATURE_FORMAT = "zoomin-bundle-signature"


def signature_member(keys: KeyRing, manifest: bytes, label: str) -> bytes:
    public, signature = keys.sign(manifest)
    return json.dumps({
        "format": SIGNATURE_FORMAT, "algorithm": "ed25519", "signer": label[:200],
        "public_key": public.to_json()["public_key"], "fingerprint": public.fingerprint,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(signature).decode("ascii"),
    }, indent=1, sort_keys=True).encode("utf-8")


def check_signature(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], manifest: fmt.Manifest,
                    keys: KeyRing, limits: fmt.BundleLimits) -> Signer:
    """Who signed the bundle; raises when the signature does not hold."""
    info = members.get(fmt.SIGNATURE)
    if info is None:
        return Signer("unsigned")
    data = fmt.read_member(archive, info, limits.signature_bytes)
    raw, _ = fmt.loads_bounded(data, "signature.json")
    if not isinstance(raw, dict) or raw.get("format") != SIGNATURE_FORMAT or raw.get("algorithm") != "ed25519":
        raise fmt.bad("signature.json is not a ZoomIn bundle signature")
    try:
        public = decode_b64(raw.get("public_key"), "signature.json")
        signature = decode_b64(raw.get("signature"), "signature.json")
    except StoreError as exc:
        raise fmt.bad(str(exc)) from None
    if len(public) != 32 or raw.get("fingerprint") != fingerprint_of(public):
        raise fmt.bad("signature.json's key and fingerprint do not agree")
    if not verify_signature(public, signature, manifest.data):
        raise fmt.bad(f"its signature does not hold (key {spaced(fingerprint_of(public))}): the bundle was "
                      "altered after it was signed")
    signer = keys.identify(public)
    label = raw.get("signer")
    if signer.status == "unknown" and isinstance(label, str):
        # The name the bundle gives itself: shown, never trusted.
        return Signer("unknown", signer.fingerprint, f"calls itself {label[:100]!r}")
    return signer


def refuse_unverified(signer: Signer) -> StoreError:
    return StoreError(
        f"bundle refused, nothing imported: {signer.describe()}. Confirm with the sender, by another channel, "
        "the fingerprint of their key; then trust it (`zoomin keys trust THEIR-KEY.json --fingerprint ...`), or "
        "import it anyway with `zoomin cases import --accept-unverified` (the case record will say so).",
        "unverified")
