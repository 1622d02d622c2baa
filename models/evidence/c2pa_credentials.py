"""Content Credentials (C2PA manifests) read and validated with c2pa-python.

A C2PA manifest is a signed statement, embedded in the file, about where the
image came from.  It is only as good as two checks: that the signature and
the hashes still match the file, and every ingredient's manifest too
(integrity), and that the signing certificate chains to an authority we
trust (identity).  Anyone can make a certificate and sign "this is a camera
photo", so identity matters for claims of authenticity; nobody has a motive to
falsely sign "this is AI-generated", so an AI declaration counts even from an
unknown signer.

Trust: the official C2PA trust lists (claim signers and time-stamp
authorities) ship in models/evidence/trust/ and are always used (a newer list
installed with `zoomin trust update` replaces the shipped copy); a PEM file
given as trust_anchors or ZOOMIN_C2PA_TRUST_ANCHORS ADDS its roots to them
(a newsroom's own CA, a test CA).  The weighing is in c2pa_weighing.py, the
walk of the manifest store in c2pa_store.py.

Reading is offline: remote manifests and OCSP are never fetched.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from models.evidence.c2pa_store import (
    TAMPER_CODES,
    TRUST_ONLY_FAILURES,
    actions_of,
    failure_codes,
    identities,
    is_identity_code,
    load_store,
    manifest_tree,
    soft_bindings,
    text,
)
from models.evidence.c2pa_context import context_for
from models.evidence.source_types import source_type_code
from models.image_input import LoadedImage
from models.types import Evidence

__all__ = ["AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES", "TRUST_ANCHORS_ENV", "C2paAction", "C2paSummary",
           "read_content_credentials", "source_type_code", "summarize_content_credentials"]

TRUST_ANCHORS_ENV = "ZOOMIN_C2PA_TRUST_ANCHORS"
# IPTC digital source type codes that decide (source_types.py has the whole vocabulary);
# generator_metadata uses them too.
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                             "algorithmicMedia", "compositeSynthetic"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture"})

TrustStatus = Literal["trusted", "untrusted", "no-trust-list", "unknown"]


@dataclass
class C2paAction:
    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    description: str | None = None
    watermark: str | None = None  # c2pa.watermarked: the watermark the signer says it embedded

    @property
    def source_type_code(self) -> str | None:
        return source_type_code(self.digital_source_type)


@dataclass
class C2paSummary:
    """What the report's C2PA section prints; every field is JSON-ready."""

    present: bool = False
    readable: bool = False
    validation_state: str | None = None  # "Valid", "Trusted", "Invalid" as c2pa reports it (active manifest)
    failure_codes: list[str] = field(default_factory=list)  # the active manifest's
    integrity_ok: bool = False  # the active manifest AND every ingredient manifest check out
    store_state: str = "valid"  # what Content Credentials Verify shows: valid, invalid, incomplete (or unreadable, absent)
    failed_at: list[str] = field(default_factory=list)  # where in the chain it failed, and why
    trust_status: TrustStatus = "unknown"
    trust_lists: list[dict[str, Any]] = field(default_factory=list)  # issue date, expiry of the lists used
    signer: str | None = None
    signer_issuer: str | None = None  # c2pa's "issuer": the signing certificate's organisation
    signer_common_name: str | None = None
    signer_organisation: str | None = None  # the trust list's name for the signer, when listed
    signing_time: str | None = None
    signature_algorithm: str | None = None
    claim_generator: str | None = None
    claim_generator_info: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    actions: list[C2paAction] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)  # the active manifest's actions
    ingredient_source_types: list[str] = field(default_factory=list)  # codes in ingredients' manifests
    ingredient_count: int = 0
    ingredient_titles: list[str] = field(default_factory=list)  # the files this one was made from
    manifest_count: int = 0
    manifests: list[dict[str, Any]] = field(default_factory=list)  # the tree: active, then ingredients
    soft_bindings: list[dict[str, Any]] = field(default_factory=list)
    watermarks: list[str] = field(default_factory=list)  # what c2pa.watermarked actions name
    identities: list[dict[str, Any]] = field(default_factory=list)  # CAWG identity assertions
    errors: list[str] = field(default_factory=list)
    reader_failed: bool = False  # c2pa raised for a reason other than "no manifest" or "unsupported type"

    @property
    def trusted(self) -> bool | None:
        """True/False when a trust list decided it, None when none was configured."""
        return {"trusted": True, "untrusted": False}.get(self.trust_status)

    @property
    def integrity_failures(self) -> list[str]:
        return [code for code in self.failure_codes if code not in TRUST_ONLY_FAILURES and not is_identity_code(code)]

    @property
    def tampered(self) -> bool:
        """The file, an assertion or the claim changed after the active manifest was signed."""
        return any(code in TAMPER_CODES for code in self.failure_codes)

    @property
    def trust_list_expired(self) -> bool:
        return any(t.get("expired") for t in self.trust_lists)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(trusted=self.trusted, tampered=self.tampered, trust_list_expired=self.trust_list_expired)
        return data


def read_content_credentials(image: LoadedImage,
                             trust_anchors: str | os.PathLike | None = None) -> list[Evidence]:
    """Evidence from the image's Content Credentials; [] when it carries none."""
    from models.evidence.c2pa_weighing import weigh

    summary = summarize_content_credentials(image, trust_anchors)
    if not summary.present and not summary.reader_failed:
        return []  # includes formats C2PA does not cover (BMP): nothing could be embedded there
    if not summary.present:
        # The reader failed for another reason; say so rather than stay silent.
        return [Evidence("provenance", "c2pa", "The Content Credentials reader could not process this file ("
                         + "; ".join(summary.errors) + "); no C2PA result.", details=summary.to_dict())]
    return [weigh(summary)]


def summarize_content_credentials(image: LoadedImage,
                                  trust_anchors: str | os.PathLike | None = None) -> C2paSummary:
    """Read and validate the manifest store without ever raising."""
    summary = C2paSummary()
    _summarize(summary, image, trust_anchors)
    if not summary.readable:
        summary.store_state = "unreadable" if summary.present or summary.reader_failed else "absent"
    return summary


def _summarize(summary: C2paSummary, image: LoadedImage, trust_anchors: str | os.PathLike | None) -> C2paSummary:
    try:
        import c2pa
    except Exception as exc:  # the native library may be missing on a stripped install
        summary.errors.append(f"the c2pa library is unavailable ({exc})")
        return summary
    anchors_path = trust_anchors if trust_anchors is not None else (os.environ.get(TRUST_ANCHORS_ENV) or None)
    mime = image.mime if image.mime in _supported_mimes(c2pa) else None  # None: c2pa sniffs the bytes
    try:
        context, trust_configured, lists = context_for(c2pa, anchors_path, summary.errors)
        # Where the lists lie on this machine stays out of the record (it may travel in a bundle).
        summary.trust_lists = [{k: v for k, v in t.describe().items() if k != "path"} for t in lists]
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
        _fill_from_store(summary, store, trust_configured, lists)
    except Exception as exc:  # manifest contents are the signer's to shape; never trust their layout
        summary.readable = False
        summary.errors.append(f"the C2PA manifest store has an unexpected layout ({_short(exc)})")
    return summary


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
    message = str(exc).strip() or type(exc).__name__
    return message if len(message) <= limit else message[:limit] + "..."


def _fill_from_store(summary: C2paSummary, store_json: str, trust_configured: bool, lists: list = ()) -> None:
    try:
        store, manifests, active = load_store(store_json)
    except (ValueError, AttributeError) as exc:
        summary.errors.append(f"the C2PA manifest store is not valid JSON ({_short(exc)})")
        return
    summary.readable = bool(active)
    summary.manifest_count = len(manifests)
    summary.validation_state = text(store.get("validation_state"), 40)
    results = store.get("validation_results") if isinstance(store.get("validation_results"), dict) else {}
    failures = (results.get("activeManifest") or {}).get("failure") if results else None
    summary.failure_codes = failure_codes(failures if failures is not None else store.get("validation_status"))
    summary.manifests, summary.failed_at, summary.store_state = manifest_tree(store, manifests)
    active_ok = summary.validation_state in ("Valid", "Trusted") and not summary.integrity_failures
    summary.integrity_ok = active_ok and summary.store_state == "valid"
    if not active_ok and not summary.failed_at:
        summary.failed_at.append(f"the active manifest (validation state {summary.validation_state})")
    successes = {str(s.get("code")) for s in (results.get("activeManifest") or {}).get("success") or []
                 if isinstance(s, dict)}
    if summary.validation_state == "Trusted" or "signingCredential.trusted" in successes:
        summary.trust_status = "trusted"
    elif trust_configured:
        summary.trust_status = "untrusted"
    else:
        summary.trust_status = "no-trust-list"

    signature = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    summary.signer_issuer = text(signature.get("issuer"))
    summary.signer_common_name = text(signature.get("common_name"))
    summary.signer = " / ".join(x for x in (summary.signer_issuer, summary.signer_common_name) if x) or None
    if summary.trust_status == "trusted":
        listed = {name: org for t in lists for name, org in t.organisation_of.items()}
        summary.signer_organisation = listed.get(summary.signer_issuer or "") or summary.signer_issuer
    summary.signing_time = text(signature.get("time"))
    summary.signature_algorithm = text(signature.get("alg"))
    summary.claim_generator = text(active.get("claim_generator"))
    info = active.get("claim_generator_info") or []
    summary.claim_generator_info = [
        {str(k): v for k, v in item.items() if isinstance(v, (str, int, float, bool))}
        for item in info if isinstance(item, dict)][:10]
    if not summary.claim_generator and summary.claim_generator_info:
        first = summary.claim_generator_info[0]
        summary.claim_generator = " ".join(str(first[k]) for k in ("name", "version") if first.get(k)) or None
    summary.title = text(active.get("title"))
    ingredients = [i for i in active.get("ingredients") or [] if isinstance(i, dict)]
    summary.ingredient_count = len(ingredients)
    summary.ingredient_titles = [str(i.get("title"))[:200] for i in ingredients[:20] if i.get("title")]
    summary.actions = [C2paAction(**a) for a in actions_of(active)]
    summary.digital_source_types = list(dict.fromkeys(
        a.digital_source_type for a in summary.actions if a.digital_source_type))
    summary.ingredient_source_types = list(dict.fromkeys(
        code for node in summary.manifests[1:] for code in node["digital_source_types"]))
    summary.soft_bindings = soft_bindings(active)
    summary.watermarks = list(dict.fromkeys(a.watermark for a in summary.actions if a.watermark))
    summary.identities = identities(active, summary.failure_codes)
