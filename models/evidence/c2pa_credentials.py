"""Content Credentials (C2PA manifests) read and validated with c2pa-python.

A C2PA manifest is a signed statement, embedded in the file, about where the
image came from.  It is only as good as two checks: that the signature and
the hashes still match the file (integrity), and that the signing certificate
chains to an authority we trust (identity).  Anyone can make a certificate
and sign "this is a camera photo", so identity matters for claims of
authenticity; nobody has a motive to falsely sign "this is AI-generated", so
an AI declaration counts even from an unknown signer.

Weighing rule (one Evidence per manifest store, kind "provenance", source "c2pa"):

- validly signed = validation state Valid or Trusted and no failure code other
  than the trust-only ones (signer or timestamp authority not on the trust list);
- validly signed and an action of the active manifest declares an AI
  digitalSourceType (trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia,
  algorithmicMedia, compositeSynthetic) -> supports "ai-generated", decisive,
  strength 0.97 from a trusted signer, 0.92 when the signer is untrusted or no
  trust list is configured (the finding says so);
- validly signed digitalCapture / computationalCapture from a trusted signer ->
  supports "real", decisive, 0.95; from an untrusted or unverified signer ->
  supports "real", not decisive, 0.4;
- validly signed without any of those source types -> "neither" (edit history only);
- failing validation (pixels changed after signing, altered assertion, bad
  signature ...) -> "neither", not decisive; the finding names the failures and
  lists the claims as unreliable;
- a manifest that is present but unreadable -> one "neither" item saying so;
- no manifest -> no evidence (summarize_content_credentials still reports it).

Reading is offline: remote manifests and OCSP are never fetched.
"""

from __future__ import annotations

import io
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from models.image_input import LoadedImage
from models.types import Evidence

TRUST_ANCHORS_ENV = "ZOOMIN_C2PA_TRUST_ANCHORS"
# IPTC digital source type codes (the last segment of the
# http://cv.iptc.org/newscodes/digitalsourcetype/ URIs); generator_metadata uses them too.
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                             "algorithmicMedia", "compositeSynthetic"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})
# Failure codes that only say the signer is not on our trust list: the
# signature and hashes can still be intact.
TRUST_ONLY_FAILURES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
_FAILURE_MEANINGS = {
    "assertion.dataHash.mismatch": "the image data was changed after signing",
    "assertion.boxesHash.mismatch": "the image data was changed after signing",
    "assertion.bmffHash.mismatch": "the media data was changed after signing",
    "assertion.hashedURI.mismatch": "an assertion was altered after signing",
    "assertion.missing": "an assertion the claim refers to is missing",
    "claimSignature.mismatch": "the claim signature does not match the claim",
    "claimSignature.missing": "the claim is not signed",
    "claimSignature.outsideValidity": "the signature was made outside the certificate's validity",
    "signingCredential.invalid": "the signing certificate is not acceptable for C2PA",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.expired": "the signing certificate had expired",
}
_MAX_ACTIONS = 64

TrustStatus = Literal["trusted", "untrusted", "no-trust-list", "unknown"]


@dataclass
class C2paAction:
    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    description: str | None = None

    @property
    def source_type_code(self) -> str | None:
        return source_type_code(self.digital_source_type)


@dataclass
class C2paSummary:
    """What the report's C2PA section prints; every field is JSON-ready."""

    present: bool = False
    readable: bool = False
    validation_state: str | None = None  # "Valid", "Trusted", "Invalid" as c2pa reports it
    failure_codes: list[str] = field(default_factory=list)
    integrity_ok: bool = False
    trust_status: TrustStatus = "unknown"
    signer: str | None = None
    signer_issuer: str | None = None
    signer_common_name: str | None = None
    signing_time: str | None = None
    signature_algorithm: str | None = None
    claim_generator: str | None = None
    claim_generator_info: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    actions: list[C2paAction] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    ingredient_count: int = 0
    ingredient_titles: list[str] = field(default_factory=list)  # the files this one was made from
    manifest_count: int = 0
    errors: list[str] = field(default_factory=list)
    reader_failed: bool = False  # c2pa raised for a reason other than "no manifest" or "unsupported type"

    @property
    def trusted(self) -> bool | None:
        """True/False when a trust list decided it, None when none was configured."""
        return {"trusted": True, "untrusted": False}.get(self.trust_status)

    @property
    def integrity_failures(self) -> list[str]:
        return [code for code in self.failure_codes if code not in TRUST_ONLY_FAILURES]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trusted"] = self.trusted
        return data


def source_type_code(uri: str | None) -> str | None:
    """'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' -> 'digitalCapture'."""
    if not uri:
        return None
    return str(uri).rstrip("/").rsplit("/", 1)[-1] or None


def read_content_credentials(image: LoadedImage,
                             trust_anchors: str | os.PathLike | None = None) -> list[Evidence]:
    """Evidence from the image's Content Credentials; [] when it carries none."""
    summary = summarize_content_credentials(image, trust_anchors)
    if not summary.present and not summary.reader_failed:
        return []  # includes formats C2PA does not cover (BMP): nothing could be embedded there
    if not summary.present:
        # The reader failed for another reason; say so rather than stay silent.
        return [Evidence("provenance", "c2pa", "The Content Credentials reader could not process this file ("
                         + "; ".join(summary.errors) + "); no C2PA result.", details=summary.to_dict())]
    return [_weigh(summary)]


def summarize_content_credentials(image: LoadedImage,
                                  trust_anchors: str | os.PathLike | None = None) -> C2paSummary:
    """Read and validate the manifest store without ever raising."""
    summary = C2paSummary()
    try:
        import c2pa
    except Exception as exc:  # the native library may be missing on a stripped install
        summary.errors.append(f"the c2pa library is unavailable ({exc})")
        return summary
    anchors_path = trust_anchors if trust_anchors is not None else (os.environ.get(TRUST_ANCHORS_ENV) or None)
    mime = image.mime if image.mime in _supported_mimes(c2pa) else None  # None: c2pa sniffs the bytes
    try:
        context, trust_configured = _context_for(c2pa, anchors_path, summary.errors)
        reader = c2pa.Reader.try_create(mime, io.BytesIO(image.data), None, context)
        if reader is None:
            return summary
        with reader:
            store = reader.json()
    except Exception as exc:  # c2pa raises for unknown algorithms, broken JUMBF, odd containers...
        summary.present = _has_c2pa_jumbf(image.data) or isinstance(exc, c2pa.C2paError.RemoteManifest)
        if isinstance(exc, c2pa.C2paError.RemoteManifest):
            summary.errors.append(f"the manifest is stored remotely and was not fetched (offline) ({_short(exc)})")
        elif isinstance(exc, c2pa.C2paError.NotSupported):
            summary.errors.append(f"this file type is not supported by the C2PA reader ({_short(exc)})")
        else:
            summary.reader_failed = True
            summary.errors.append(f"the C2PA reader failed: {_short(exc)}")
        return summary
    summary.present = True
    try:
        _fill_from_store(summary, store, trust_configured)
    except Exception as exc:  # manifest contents are the signer's to shape; never trust their layout
        summary.errors.append(f"the C2PA manifest store has an unexpected layout ({_short(exc)})")
    return summary


_contexts: dict[tuple, Any] = {}
_contexts_lock = threading.Lock()


def _context_for(c2pa: Any, anchors_path: str | os.PathLike | None, errors: list[str]) -> tuple[Any, bool]:
    """A cached offline validation Context, one per trust-anchor file version."""
    pem = None
    key: tuple = ("no-trust-list",)
    if anchors_path is not None:
        path = Path(anchors_path)
        try:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            if key not in _contexts:
                pem = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"the trust anchor file {str(path)!r} could not be read ({exc}); "
                          "signers were checked against no trust list")
            key = ("no-trust-list",)
    with _contexts_lock:
        if key not in _contexts:
            settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                                                   "verify_trust": True, "verify_after_reading": True}}
            if pem is not None:
                settings["trust"] = {"trust_anchors": pem}
            try:
                _contexts[key] = c2pa.Context.from_dict(settings)
            except Exception as exc:  # e.g. a PEM file c2pa cannot parse
                errors.append(f"the trust anchors were rejected by c2pa ({_short(exc)}); "
                              "signers were checked against no trust list")
                key = ("no-trust-list",)
                if key not in _contexts:
                    settings.pop("trust", None)
                    _contexts[key] = c2pa.Context.from_dict(settings)
        return _contexts[key], key != ("no-trust-list",)


def _supported_mimes(c2pa: Any) -> list[str]:
    try:
        return c2pa.Reader.get_supported_mime_types()  # c2pa caches the list itself
    except Exception:
        return []


def _has_c2pa_jumbf(data: bytes) -> bool:
    # A C2PA manifest store is a JUMBF superbox whose description box is labelled
    # with the c2pa UUID, which begins with the ASCII bytes "c2pa".
    return b"jumdc2pa" in data


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _fill_from_store(summary: C2paSummary, store_json: str, trust_configured: bool) -> None:
    try:
        store = json.loads(store_json)
        manifests = store.get("manifests") or {}
        active = manifests.get(store.get("active_manifest")) or {}
    except (ValueError, AttributeError) as exc:
        summary.errors.append(f"the C2PA manifest store is not valid JSON ({_short(exc)})")
        return
    summary.readable = bool(active)
    summary.manifest_count = len(manifests)
    summary.validation_state = store.get("validation_state")
    results = store.get("validation_results") or {}
    failures = (results.get("activeManifest") or {}).get("failure")
    if failures is None:  # older stores report a flat validation_status list
        failures = store.get("validation_status") or []
    codes = [str(f.get("code")) for f in failures if isinstance(f, dict) and f.get("code")]
    summary.failure_codes = list(dict.fromkeys(codes))
    summary.integrity_ok = summary.validation_state in ("Valid", "Trusted") and not summary.integrity_failures
    successes = {str(s.get("code")) for s in (results.get("activeManifest") or {}).get("success") or []
                 if isinstance(s, dict)}
    if summary.validation_state == "Trusted" or "signingCredential.trusted" in successes:
        summary.trust_status = "trusted"
    elif trust_configured:
        summary.trust_status = "untrusted"
    else:
        summary.trust_status = "no-trust-list"

    signature = active.get("signature_info") or {}
    summary.signer_issuer = _text(signature.get("issuer"))
    summary.signer_common_name = _text(signature.get("common_name"))
    summary.signer = " / ".join(x for x in (summary.signer_issuer, summary.signer_common_name) if x) or None
    summary.signing_time = _text(signature.get("time"))
    summary.signature_algorithm = _text(signature.get("alg"))
    summary.claim_generator = _text(active.get("claim_generator"))
    info = active.get("claim_generator_info") or []
    summary.claim_generator_info = [
        {str(k): v for k, v in item.items() if isinstance(v, (str, int, float, bool))}
        for item in info if isinstance(item, dict)]
    if not summary.claim_generator and summary.claim_generator_info:
        first = summary.claim_generator_info[0]
        summary.claim_generator = " ".join(str(first[k]) for k in ("name", "version") if first.get(k)) or None
    summary.title = _text(active.get("title"))
    summary.ingredient_count = len(active.get("ingredients") or [])
    summary.ingredient_titles = [str(i.get("title"))[:200] for i in (active.get("ingredients") or [])[:20]
                                 if isinstance(i, dict) and i.get("title")]
    for assertion in active.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            data = assertion.get("data") or {}
            for action in (data.get("actions") or []) if isinstance(data, dict) else []:
                if isinstance(action, dict) and len(summary.actions) < _MAX_ACTIONS:
                    summary.actions.append(_action(action))
    summary.digital_source_types = list(dict.fromkeys(
        a.digital_source_type for a in summary.actions if a.digital_source_type))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _action(raw: dict[str, Any]) -> C2paAction:
    agent = raw.get("softwareAgent")
    if isinstance(agent, dict):  # actions v2 use a claim-generator-info object
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    parameters = raw.get("parameters") if isinstance(raw.get("parameters"), dict) else {}
    return C2paAction(action=str(raw.get("action", "?")), digital_source_type=_text(raw.get("digitalSourceType")),
                      software_agent=_text(agent),
                      description=_text(raw.get("description") or parameters.get("description")))


def _weigh(summary: C2paSummary) -> Evidence:
    details = summary.to_dict()
    if not summary.readable:
        return Evidence("provenance", "c2pa",
                        "A C2PA manifest (Content Credentials) is present but unreadable ("
                        + "; ".join(summary.errors or ["it has no active manifest"])
                        + "), so nothing in it can be checked or relied upon.", details=details)
    signer = summary.signer or "an unnamed signer"
    claims = _describe_claims(summary)
    if not summary.integrity_ok:
        failed = summary.integrity_failures or [f"validation state {summary.validation_state}"]
        reasons = "; ".join(f"{code}: {_FAILURE_MEANINGS[code]}" if code in _FAILURE_MEANINGS else code
                            for code in failed)
        return Evidence("provenance", "c2pa",
                        f"Content Credentials signed by {signer} FAIL validation ({reasons}). The claims inside "
                        f"cannot be relied upon; for the record they say: {claims}.", details=details)
    codes = {a.source_type_code for a in summary.actions}
    ai_codes = sorted(codes & AI_SOURCE_TYPES)
    trust_words = {
        "trusted": "the signer chains to a configured trust anchor",
        "untrusted": "the signer does NOT chain to any configured trust anchor, so its identity is unverified",
        "no-trust-list": "no trust list is configured, so the signer's identity is unverified",
    }.get(summary.trust_status, "the signer's identity is unknown")
    if ai_codes:
        composite = all(c.startswith("composite") for c in ai_codes)
        what = "partly AI-generated (AI content composited into it)" if composite else "AI-generated"
        strength = 0.97 if summary.trust_status == "trusted" else 0.92
        return Evidence("provenance", "c2pa",
                        f"Content Credentials signed by {signer} (signature intact) declare this image {what}: {claims}. "
                        f"Signature and hashes match the file; {trust_words}.",
                        supports="ai-generated", strength=strength, decisive=True, details=details)
    if codes & CAPTURE_SOURCE_TYPES:
        if summary.trust_status == "trusted":
            return Evidence("provenance", "c2pa",
                            f"Valid Content Credentials signed by {signer} declare a camera capture: {claims}. "
                            f"Signature and hashes match the file and {trust_words}.",
                            supports="real", strength=0.95, decisive=True, details=details)
        return Evidence("provenance", "c2pa",
                        f"Content Credentials signed by {signer} declare a camera capture ({claims}) and match the "
                        f"file, but {trust_words}: anyone can sign such a claim, so it is only moderate support.",
                        supports="real", strength=0.4, details=details)
    return Evidence("provenance", "c2pa",
                    f"Content Credentials signed by {signer} (signature intact) record {claims}, but declare no digital source "
                    f"type, so they say nothing about AI generation either way ({trust_words}).", details=details)


def _describe_claims(summary: C2paSummary) -> str:
    described: list[str] = []
    for action in summary.actions:
        text = action.action
        if action.source_type_code:
            text += f" with digitalSourceType {action.source_type_code}"
        if action.software_agent:
            text += f" by {action.software_agent}"
        described.append(text)
    # Editors record one action per tool use; "c2pa.edited x13" reads better.
    counted = {text: described.count(text) for text in described}
    parts = [text if n == 1 else f"{text} (x{n})" for text, n in counted.items()][:10] or ["no actions"]
    extras = []
    if summary.claim_generator:
        extras.append(f"claim generator {summary.claim_generator}")
    if summary.ingredient_count:
        extras.append(f"{summary.ingredient_count} ingredient(s)")
    if summary.signing_time:
        extras.append(f"signed {summary.signing_time}")
    return "actions " + ", ".join(parts) + (f" ({'; '.join(extras)})" if extras else "")
