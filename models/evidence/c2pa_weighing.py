"""How a read C2PA manifest store weighs (one Evidence, kind "provenance", source "c2pa").

- the file was altered after signing (data-hash, boxes-hash, hashed-URI or claim
  signature mismatch in the active manifest) -> "neither", not decisive, and
  details["tampered"]: fusion never calls such a file "real";
- any other failure in the chain (an ingredient's manifest with a broken
  signature, a missing ingredient manifest, a revoked certificate) -> "neither",
  not decisive; the finding gives the state Verify shows and where it failed;
- intact, and an action of the active manifest declares an AI source type
  (trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia, algorithmicMedia,
  compositeSynthetic) -> "ai-generated", decisive, 0.97 from a signer on the trust
  list, 0.92 otherwise (nobody falsely signs "made with AI");
- intact, and only an ingredient's manifest declares AI -> "ai-generated", decisive,
  as a composite (AI content was placed into it);
- intact digitalCapture / computationalCapture -> "real": decisive (0.95) from a
  listed signer, else 0.4 (anyone can sign such a claim);
- intact, actions recorded and no AI source type anywhere (drawing, editing) ->
  "neither" with details["records_no_ai"]: fusion keeps weak pixel evidence from
  calling such a file AI;
- unreadable -> "neither", saying so.
"""

from __future__ import annotations

from models.evidence.c2pa_credentials import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, C2paSummary
from models.evidence.source_types import category
from models.types import Evidence

_FAILURE_MEANINGS = {
    "assertion.dataHash.mismatch": "the image data was changed after signing",
    "assertion.boxesHash.mismatch": "the image data was changed after signing",
    "assertion.bmffHash.mismatch": "the media data was changed after signing",
    "assertion.collectionHash.mismatch": "a file of the collection was changed after signing",
    "assertion.hashedURI.mismatch": "an assertion was altered after signing",
    "assertion.missing": "an assertion the claim refers to is missing",
    "claimSignature.mismatch": "the claim signature does not match the claim",
    "claimSignature.missing": "the claim is not signed",
    "claimSignature.outsideValidity": "the signature was made outside the certificate's validity",
    "signingCredential.invalid": "the signing certificate is not acceptable for C2PA",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.expired": "the signing certificate had expired",
    "ingredient.manifest.missing": "an ingredient's manifest is missing",
}


def weigh(summary: C2paSummary) -> Evidence:
    details = summary.to_dict()
    if not summary.readable:
        return Evidence("provenance", "c2pa",
                        "A C2PA manifest (Content Credentials) is present but unreadable ("
                        + "; ".join(summary.errors or ["it has no active manifest"])
                        + "), so nothing in it can be checked or relied upon.", details=details)
    signer = summary.signer or "an unnamed signer"
    claims = describe_claims(summary) + _extras(summary)
    if summary.tampered:
        return Evidence("provenance", "c2pa",
                        f"The file was altered after it was signed: Content Credentials signed by {signer} FAIL "
                        f"validation ({_reasons(summary.integrity_failures)}). The claims inside cannot be relied "
                        f"upon; for the record they say: {claims}.", details=details)
    if not summary.integrity_ok:
        where = "; ".join(summary.failed_at) or f"validation state {summary.validation_state}"
        reasons = f"; {_reasons(summary.integrity_failures)}" if summary.integrity_failures else ""
        return Evidence("provenance", "c2pa",
                        f"Content Credentials signed by {signer} are {summary.store_state.upper()} as a whole "
                        f"(failed at: {where}{reasons}). The claims inside cannot be relied upon; for the record "
                        f"they say: {claims}.", details=details)
    codes = {a.source_type_code for a in summary.actions}
    ai_codes = sorted(codes & AI_SOURCE_TYPES)
    ingredient_ai = sorted(set(summary.ingredient_source_types) & AI_SOURCE_TYPES)
    trust_words = _trust_words(summary)
    if ai_codes or ingredient_ai:
        composite = not ai_codes or all(c.startswith("composite") for c in ai_codes)
        what = "partly AI-generated (AI content composited into it)" if composite else "AI-generated"
        if not ai_codes:
            what += f"; an ingredient's own credentials declare {', '.join(ingredient_ai)}"
        strength = 0.97 if summary.trust_status == "trusted" else 0.92
        return Evidence("provenance", "c2pa",
                        f"Content Credentials signed by {signer} (signature intact) declare this image {what}: "
                        f"{claims}. Signature and hashes match the file; {trust_words}.",
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
    other = sorted(c for c in codes if c and category(c) in ("other", "ai-enhanced", "capture"))
    if summary.actions:
        details["records_no_ai"] = True
    declared = f"declare the source type {', '.join(other)} (no AI generation)" if other else \
        "declare no digital source type"
    return Evidence("provenance", "c2pa",
                    f"Content Credentials signed by {signer} (signature intact) record {claims}, and {declared}: "
                    f"the recorded history uses no AI ({trust_words}).", details=details)


def _reasons(codes: list[str]) -> str:
    return "; ".join(f"{code}: {_FAILURE_MEANINGS[code]}" if code in _FAILURE_MEANINGS else code
                     for code in codes) or "no reason given"


def _trust_words(summary: C2paSummary) -> str:
    if summary.trust_status == "trusted":
        organisation = summary.signer_organisation or summary.signer_issuer or "the signer"
        words = f"the signer ({organisation}) chains to a trust anchor (the C2PA trust list or one you added)"
    else:
        words = {
            "untrusted": "the signer does NOT chain to the C2PA trust list or any trust anchor you added, so its "
                         "identity is unverified",
            "no-trust-list": "no trust list could be loaded, so the signer's identity is unverified",
        }.get(summary.trust_status, "the signer's identity is unknown")
    expired = [t for t in summary.trust_lists if t.get("expired")]
    if expired:
        words += (f"; the C2PA trust list in use (issued {expired[0]['issued']}) is past its next update "
                  f"({expired[0]['next_update']}): install a newer one with `zoomin trust update`")
    return words


def describe_claims(summary: C2paSummary) -> str:
    described: list[str] = []
    for action in summary.actions:
        words = action.action
        if action.source_type_code:
            words += f" with digitalSourceType {action.source_type_code}"
        if action.software_agent:
            words += f" by {action.software_agent}"
        described.append(words)
    # Editors record one action per tool use; "c2pa.edited x13" reads better.
    counted = {words: described.count(words) for words in described}
    parts = [words if n == 1 else f"{words} (x{n})" for words, n in counted.items()][:10] or ["no actions"]
    extras = []
    if summary.claim_generator:
        extras.append(f"claim generator {summary.claim_generator}")
    if summary.ingredient_count:
        extras.append(f"{summary.ingredient_count} ingredient(s)")
    if summary.signing_time:
        extras.append(f"signed {summary.signing_time}")
    return "actions " + ", ".join(parts) + (f" ({'; '.join(extras)})" if extras else "")


def _extras(summary: C2paSummary) -> str:
    """C2PA 2.x statements beside the actions: declared watermarks, soft bindings, CAWG identities."""
    parts = []
    if summary.watermarks:
        parts.append(f"the signer says it embedded the watermark {', '.join(summary.watermarks[:3])}")
    if summary.soft_bindings:
        parts.append("soft binding(s) " + ", ".join(b["alg"] for b in summary.soft_bindings[:3]))
    if summary.identities:
        named = [n for i in summary.identities for n in i["names"]]
        unverified = sorted({c for i in summary.identities for c in i["failures"]})
        parts.append(f"{len(summary.identities)} CAWG identity assertion(s)"
                     + (f" naming {', '.join(named[:3])}" if named else "")
                     + (f", NOT verified ({', '.join(unverified[:3])})" if unverified else ", verified"))
    return ("; " + "; ".join(parts)) if parts else ""
