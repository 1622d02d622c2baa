"""Content Credentials (C2PA) in plain words, one wording for the page, the CLI
and the report.

Input is what models/evidence/c2pa_credentials.py keeps in a "c2pa" finding's
details (C2paSummary.to_dict()).  The words separate the two checks a reader
must not confuse: whether the signature is intact (the file is as signed) and
whether the signer is on the trust list (we know who signed).  A signature can
be intact while the signer is unknown; the words never say "valid" for that.
"""

from __future__ import annotations

from typing import Any

from models.evidence.c2pa_credentials import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, source_type_code
from models.evidence.c2pa_store import TAMPER_CODES
from models.evidence.source_types import source_words

NAME_LIMIT = 60  # characters of a signer, tool or model name a sentence shows

# c2pa action names (the part after "c2pa.") a reader knows by another word.
_ACTION_WORDS = {
    "created": "created", "edited": "edited", "opened": "opened", "placed": "placed another image in it",
    "cropped": "cropped", "resized": "resized", "color_adjustments": "colour adjusted", "filtered": "filtered",
    "converted": "converted", "transcoded": "re-encoded", "published": "published", "repackaged": "repackaged",
    "drawing": "drawn on", "orientation": "rotated", "removed": "something removed", "redacted": "redacted",
    "unknown": "an unrecorded change",
}


def is_credentials(details: dict[str, Any]) -> bool:
    return "integrity_ok" in details and "trust_status" in details


def signer_name(details: dict[str, Any]) -> str:
    """Who signed, as a reader knows them: the organisation when a trust list vouches for it (its
    certificate's organisation, named as the C2PA list names it), else the certificate's name."""
    if details.get("trust_status") == "trusted" and details.get("signer_organisation"):
        return short_name(details["signer_organisation"])
    return short_name(details.get("signer_common_name") or details.get("signer_issuer") or details.get("signer")
                      or "an unnamed signer")


def short_name(value: Any, limit: int = NAME_LIMIT) -> str:
    """A name taken from the file, fit for a sentence: one line, at most `limit` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def declared_source(details: dict[str, Any]) -> str | None:
    """'ai', 'ai-composite', 'capture' or None: what the credentials declare about the image's origin."""
    codes = {source_type_code(a.get("digital_source_type")) for a in _actions(details)}
    ai = codes & AI_SOURCE_TYPES
    if ai:
        return "ai-composite" if all(c.startswith("composite") for c in ai) else "ai"
    if set(details.get("ingredient_source_types") or []) & AI_SOURCE_TYPES:
        return "ai-composite"  # an ingredient's own credentials declare AI
    return "capture" if codes & CAPTURE_SOURCE_TYPES else None


def tampered(details: dict[str, Any]) -> bool:
    """The file, an assertion or the claim changed after the active manifest was signed."""
    return bool(details.get("tampered")) or any(c in TAMPER_CODES for c in details.get("failure_codes") or [])


def action_summary(details: dict[str, Any], limit: int = 8) -> str:
    """'created (made with AI), edited ×13, opened': repeats collapsed, in recorded order."""
    words = []
    for action in _actions(details):
        name = str(action.get("action") or "?").removeprefix("c2pa.")
        text = _ACTION_WORDS.get(name, name.replace("_", " "))
        source = source_words(action.get("digital_source_type"))
        if source:
            text += f" ({source})"
        words.append(text)
    counted = {w: words.count(w) for w in words}
    parts = [w if n == 1 else f"{w} ×{n}" for w, n in counted.items()]
    return ", ".join(parts[:limit]) + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def edit_count(details: dict[str, Any]) -> int:
    """Recorded changes: every action but creating, opening and publishing the file."""
    return sum(1 for a in _actions(details)
               if str(a.get("action", "")).removeprefix("c2pa.") not in ("created", "opened", "published"))


def tool_name(details: dict[str, Any]) -> str:
    """The software that wrote the credentials, as a reader names it: 'Adobe Photoshop 23.3.1',
    not the user-agent string 'Adobe_Photoshop/23.3.1 adobe_c2pa/0.14.2 c2pa-rs/0.43.0'."""
    info = [i for i in details.get("claim_generator_info") or [] if isinstance(i, dict) and i.get("name")]
    if info:
        return short_name(" ".join(str(info[0][k]) for k in ("name", "version") if info[0].get(k)).replace("_", " "))
    generator = " ".join(str(details.get("claim_generator") or "").split(" (")[0].split())
    first = generator.split(" ")[0] if "/" in generator.split(" ")[0] else generator
    return short_name(first.replace("/", " ").replace("_", " ")) if first else ""


def signature_sentence(details: dict[str, Any]) -> str:
    """'Signed by X; the signature is intact; X is not on your trust list.'"""
    if not details.get("readable", True) and not details.get("integrity_ok"):
        return "Content Credentials are present but could not be read, so nothing in them can be checked."
    who = signer_name(details)
    if not details.get("integrity_ok") and (tampered(details) or not details.get("failed_at")):
        return (f"Signed by {who}, but the signature no longer matches the file: it was changed after signing, "
                "so its record cannot be relied upon.")
    if not details.get("integrity_ok"):
        state = str(details.get("store_state") or "invalid")
        return (f"Signed by {who}; the file's own signature is intact, but the Content Credentials are {state} "
                f"as a whole (failed at {'; '.join(map(str, details['failed_at'][:3]))}), so their record cannot "
                "be relied upon.")
    common_name = details.get("signer_common_name")
    listed = f" (certificate {short_name(common_name)!r})" if details.get("signer_organisation") and common_name \
        and short_name(common_name) != who else ""
    expired = " The C2PA trust list in use is past its next update; install a newer one." \
        if details.get("trust_list_expired") else ""
    trust = {
        "trusted": f"{who} is on your trust list{listed}",
        "untrusted": f"{who} is not on your trust list, so who signed it is not confirmed",
        "no-trust-list": "no trust list is set up, so who signed it is not confirmed",
    }.get(str(details.get("trust_status")), "whether the signer is trusted is unknown")
    return f"Signed by {who}; the signature is intact; {trust}.{expired}"


def credentials_lines(details: dict[str, Any]) -> list[str]:
    """Every plain line about one manifest: signature and trust, tool and time,
    what it declares, the recorded actions, the ingredients."""
    lines = [signature_sentence(details)]
    made = []
    if tool_name(details):
        made.append(f"Made with {tool_name(details)}")
    if details.get("signing_time"):
        made.append(f"signing time {details['signing_time']}")
    if made:
        lines.append("; ".join(made) + ".")
    source = declared_source(details)
    if source:
        said = {"ai": "They declare the image made with AI.", "ai-composite": "They declare AI content added to "
                "the image.", "capture": "They declare a camera capture."}[source]
        lines.append(said if details.get("integrity_ok") else said.replace("They declare", "They claim (unreliably)"))
    elif details.get("integrity_ok"):
        lines.append("They do not say whether AI was used.")
    actions = action_summary(details)
    if actions:
        lines.append(f"Recorded actions: {actions}.")
    marks = [short_name(w) for w in details.get("watermarks") or []]
    if marks:
        lines.append(f"The signer says it embedded an invisible watermark ({', '.join(marks[:3])}).")
    named = [short_name(n) for i in details.get("identities") or [] if isinstance(i, dict) for n in i.get("names") or []]
    claimed = [i for i in details.get("identities") or [] if isinstance(i, dict)]
    if claimed and all(i.get("verified") for i in claimed):
        lines.append("An identity assertion (CAWG) vouches for the claim" + (f": {', '.join(named[:3])}." if named
                                                                             else "."))
    elif claimed:
        lines.append("An identity assertion (CAWG) names who made the claim, but it does not verify, so that "
                     "identity is not confirmed.")
    titles = [str(t) for t in details.get("ingredient_titles") or []]
    count = int(details.get("ingredient_count") or 0)
    if titles:
        more = f" and {count - len(titles)} more" if count > len(titles) else ""
        lines.append(f"Made from: {', '.join(titles)}{more}.")
    elif count:
        lines.append(f"Made from {count} other file{'s' if count != 1 else ''} (not named).")
    return lines


def credentials_phrase(details: dict[str, Any]) -> str:
    """A short clause for a headline: what the credentials say and whether they hold."""
    who = signer_name(details)
    if not details.get("readable", True) and not details.get("integrity_ok"):
        return "Content Credentials are present but unreadable"
    if not details.get("integrity_ok") and (tampered(details) or not details.get("failed_at")):
        return f"the file was altered after it was signed (its Content Credentials from {who} no longer match)"
    if not details.get("integrity_ok"):
        return f"Content Credentials signed by {who} are {details.get('store_state') or 'invalid'} as a whole"
    trusted = details.get("trust_status") == "trusted"
    source = declared_source(details)
    if source in ("ai", "ai-composite"):
        what = "declare it made with AI" if source == "ai" else "declare AI content added to it"
        return f"Content Credentials signed by {who} {what}" + ("" if trusted else f" (signer {_unverified(details)})")
    if source == "capture":
        if trusted:
            return f"Content Credentials from {who}, on your trust list, record a camera capture, signature intact"
        return f"Content Credentials claim a camera capture, but {who} is {_unverified(details)}"
    edits = edit_count(details)
    recorded = f"{edits} edit{'s' if edits != 1 else ''} recorded, none with AI" if edits else "no AI use recorded"
    trust = "on your trust list" if trusted else _unverified(details)
    return f"signed by {who} ({trust}), signature intact, {recorded}"


def _unverified(details: dict[str, Any]) -> str:
    if details.get("trust_status") == "untrusted":
        return "not on your trust list"
    return "not verified, as no trust list is set up"


def _actions(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in details.get("actions") or [] if isinstance(a, dict)]


def manifest_tree_lines(details: dict[str, Any], compact: bool = False) -> list[str]:
    """The manifest store as an indented tree: the active manifest, then its ingredients, each
    as a heading (role, status) with its title, signer and time, actions and failures beneath,
    short lines so a phone shows the heading whole.  compact: one line per manifest (the report,
    whose table cells keep neither leading spaces nor many lines)."""
    lines = []
    for node in details.get("manifests") or []:
        if not isinstance(node, dict):
            continue
        depth = int(node.get("depth") or 0)
        pad = "\u00a0" if compact else " "  # a report paragraph would collapse plain spaces
        indent = pad * 4 * max(0, depth - 1) + ("└─ " if depth else "")
        role = str(node.get("role") or "manifest")
        parts = [f"{indent}{role[:1].upper()}{role[1:]}: {str(node.get('status') or 'valid').upper()}"]
        if node.get("title"):
            parts.append(f"{short_name(node['title'], 50)!r}")
        if node.get("status") == "missing":
            parts.append("its manifest is not in the file")
        elif depth and not node.get("has_credentials", True):
            parts.append("no Content Credentials of its own")
        else:
            signer = short_name(node.get("signer") or "an unnamed signer", 40)
            trust = " (not on your trust list)" if node.get("untrusted") else ""
            parts.append(f"signed by {signer}{trust}" + (f", {node['signing_time']}" if node.get("signing_time")
                                                         else ""))
            actions = [str(a).removeprefix("c2pa.") for a in node.get("actions") or []]
            if actions:
                parts.append("actions: " + ", ".join(dict.fromkeys(actions)))
            if node.get("digital_source_types"):
                parts.append("source type: " + ", ".join(map(str, node["digital_source_types"])))
            if node.get("failures"):
                parts.append("failed: " + ", ".join(map(str, node["failures"][:4])))
        if compact:
            lines.append(" · ".join(parts))
        else:
            under = " " * (4 * depth + 3)
            lines += [parts[0], *(under + part for part in parts[1:])]
    return lines
