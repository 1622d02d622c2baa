"""The whole C2PA manifest store, as c2pa-python's Reader.json() gives it, turned
into plain structures: the active manifest's claims, every ingredient's and
parent manifest's status (a tree), and the C2PA 2.x assertions (soft
bindings, watermarks declared by c2pa.watermarked, CAWG identities).

Why a walk of our own: c2pa's validation_state covers the active manifest.
An ingredient whose own manifest failed when it was added (its recorded
validation_results) or fails now (validation_results.ingredientDeltas) leaves
that state "Valid", while Content Credentials Verify shows the file as
invalid.  store_state here is what Verify would show:

- "invalid": a failure (other than trust-only codes) anywhere in the chain;
- "incomplete": an ingredient says it had Content Credentials but its manifest
  is not in the store (or c2pa reports it missing or inaccessible);
- "valid" otherwise.

Every value comes from the file: lengths are bounded and layouts checked.
"""

from __future__ import annotations

import json
from typing import Any

from models.evidence.source_types import source_type_code

TRUST_ONLY_FAILURES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
# The file (pixels, an assertion or the claim) changed after it was signed.
TAMPER_CODES = frozenset({"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch",
                          "assertion.bmffHash.mismatch", "assertion.collectionHash.mismatch",
                          "assertion.hashedURI.mismatch", "claimSignature.mismatch"})
MISSING_CODES = frozenset({"ingredient.manifest.missing", "manifest.inaccessible", "claim.missing",
                           "assertion.missing", "ingredient.claimSignature.missing"})
MAX_ACTIONS, MAX_NODES, MAX_DEPTH, TEXT_LIMIT = 64, 40, 8, 300


def is_identity_code(code: str) -> bool:
    """CAWG identity-assertion codes: they say whether a named identity verifies, not whether the
    content credentials hold (Verify shows them beside the signature, not instead of it)."""
    return code.startswith("cawg.")


def text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    if value in (None, "") or isinstance(value, (dict, list)):
        return None
    value = str(value)
    return value if len(value) <= limit else value[:limit] + "…"


def failure_codes(results: Any) -> list[str]:
    """The failure codes of one validation-results block (activeManifest, a delta, a flat list)."""
    if isinstance(results, dict):
        results = results.get("failure")
    return list(dict.fromkeys(str(f["code"]) for f in results or [] if isinstance(f, dict) and f.get("code")))


def load_store(store_json: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(store, manifests, active manifest); ValueError when the JSON is not a store."""
    store = json.loads(store_json)
    if not isinstance(store, dict):
        raise ValueError("the manifest store is not a JSON object")
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active = manifests.get(store.get("active_manifest")) if isinstance(store.get("active_manifest"), str) else None
    return store, manifests, active if isinstance(active, dict) else {}


def actions_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of one manifest's c2pa.actions assertions, as C2paAction fields."""
    found: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if not (isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions")):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        for raw in data.get("actions") or []:
            if isinstance(raw, dict) and len(found) < MAX_ACTIONS:
                found.append(_action(raw))
    return found


def _action(raw: dict[str, Any]) -> dict[str, Any]:
    agent = raw.get("softwareAgent")
    if isinstance(agent, dict):  # actions v2 use a claim-generator-info object
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    parameters = raw.get("parameters") if isinstance(raw.get("parameters"), dict) else {}
    watermark = None
    if str(raw.get("action", "")) == "c2pa.watermarked":
        # C2PA 2.x: the signer says which watermark it embedded (a soft-binding algorithm, often in
        # parameters, else in the description).
        watermark = text(parameters.get("alg") or parameters.get("watermark") or parameters.get("name")
                         or raw.get("description") or parameters.get("description") or agent or "unnamed")
    return {"action": text(raw.get("action")) or "?", "digital_source_type": text(raw.get("digitalSourceType")),
            "software_agent": text(agent),
            "description": text(raw.get("description") or parameters.get("description")),
            "watermark": watermark}


def soft_bindings(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """c2pa.soft-binding assertions: the watermark or fingerprint algorithm a signer bound the content with."""
    found = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.soft-binding"):
            data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
            blocks = data.get("blocks") if isinstance(data.get("blocks"), list) else []
            found.append({"alg": text(data.get("alg")) or "unnamed", "blocks": len(blocks),
                          "pad": text(data.get("pad"), 40)})
    return found[:10]


def identities(manifest: dict[str, Any], codes: list[str] = ()) -> list[dict[str, Any]]:
    """CAWG identity assertions (cawg.identity): who, beyond the signing certificate, vouches for the
    claim, and whether that identity verified (`failures`: the cawg.* codes c2pa reported)."""
    failures = [c for c in codes if is_identity_code(c)]
    found = []
    for assertion in manifest.get("assertions") or []:
        if not (isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("cawg.identity")):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        payload = data.get("signer_payload") if isinstance(data.get("signer_payload"), dict) else {}
        names = _identity_names(data)
        found.append({"sig_type": text(payload.get("sig_type") or data.get("sig_type")) or "unknown",
                      "names": names[:5],
                      "referenced_assertions": len(payload.get("referenced_assertions") or []),
                      "verified": not failures, "failures": failures[:6]})
    return found[:10]


def _identity_names(data: dict[str, Any]) -> list[str]:
    """Names an identity assertion states (verified identities of an identity claims aggregation,
    or the subject of an X.509 credential), as c2pa-python's reader decodes them."""
    names: list[str] = []
    for key in ("verifiedIdentities", "verified_identities"):
        for item in data.get(key) or []:
            if isinstance(item, dict):
                name = text(item.get("name") or item.get("username") or item.get("uri"), 120)
                if name:
                    names.append(name)
    for key in ("name", "signer", "subject", "issuer"):
        if isinstance(data.get(key), str):
            names.append(text(data[key], 120) or "")
    return [n for n in dict.fromkeys(names) if n]


def manifest_tree(store: dict[str, Any], manifests: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], str]:
    """The active manifest, then its ingredients depth first, each a node with its signer,
    time, actions and status; the places where the chain failed; and the store state."""
    results = store.get("validation_results") if isinstance(store.get("validation_results"), dict) else {}
    deltas: dict[str, list[str]] = {}
    for delta in results.get("ingredientDeltas") or []:
        if isinstance(delta, dict):
            uri = str(delta.get("ingredientAssertionURI", ""))
            deltas[uri] = failure_codes(delta.get("validationDeltas"))
    active_failures = failure_codes(results.get("activeManifest")) if results else failure_codes(
        store.get("validation_status"))
    nodes: list[dict[str, Any]] = []
    failed_at: list[str] = []
    missing = False
    label = store.get("active_manifest") if isinstance(store.get("active_manifest"), str) else None
    root = _node(manifests.get(label) or {}, label, "active manifest", 0, active_failures)
    nodes.append(root)
    if root["failures"]:
        failed_at.append(f"the active manifest ({', '.join(root['failures'][:4])})")
    stack = [(manifests.get(label) or {}, label, 1)]
    seen = {label}
    while stack and len(nodes) < MAX_NODES:
        manifest, manifest_label, depth = stack.pop(0)
        ingredients = [i for i in manifest.get("ingredients") or [] if isinstance(i, dict)]
        for index, ingredient in enumerate(ingredients):
            if len(nodes) >= MAX_NODES or depth > MAX_DEPTH:
                break
            child_label = ingredient.get("active_manifest") if isinstance(ingredient.get("active_manifest"),
                                                                         str) else None
            recorded = failure_codes((ingredient.get("validation_results") or {}).get("activeManifest")
                                     if isinstance(ingredient.get("validation_results"), dict) else None)
            recorded += failure_codes(ingredient.get("validation_status"))
            now = next((codes for uri, codes in deltas.items()
                        if manifest_label and f"/{manifest_label}/" in uri and _ingredient_index(uri) == index),
                       [])
            child = manifests.get(child_label) if child_label else None
            role = f"ingredient ({text(ingredient.get('relationship'), 40) or 'componentOf'})"
            node = _node(child or {}, child_label, role, depth, list(dict.fromkeys(recorded + now)))
            node["title"] = text(ingredient.get("title"), 200) or node["title"]
            node["has_credentials"] = bool(child_label)
            if child_label and child is None:
                node["status"], missing = "missing", True
            elif any(code in MISSING_CODES for code in node["failures"]):
                missing = True
            nodes.append(node)
            if node["failures"]:
                failed_at.append(f"ingredient {node['title'] or index + 1!r} ({', '.join(node['failures'][:4])})")
            elif node["status"] == "missing":
                failed_at.append(f"ingredient {node['title'] or index + 1!r} (its manifest is not in the file)")
            if child is not None and child_label not in seen:
                seen.add(child_label)
                stack.append((child, child_label, depth + 1))
    state = "invalid" if any(n["failures"] for n in nodes) else "incomplete" if missing else "valid"
    return nodes, failed_at, state


def _ingredient_index(uri: str) -> int:
    """c2pa.ingredient.v3 -> 0, c2pa.ingredient.v3__1 -> 1 (c2pa numbers repeated labels)."""
    tail = uri.rsplit("/", 1)[-1]
    _, _, number = tail.partition("__")
    return int(number) if number.isdigit() else 0


def _node(manifest: dict[str, Any], label: str | None, role: str, depth: int, codes: list[str]) -> dict[str, Any]:
    signature = manifest.get("signature_info") if isinstance(manifest.get("signature_info"), dict) else {}
    failures = [c for c in codes if c not in TRUST_ONLY_FAILURES and not is_identity_code(c)]
    actions = actions_of(manifest)
    return {"label": text(label, 120), "role": role, "depth": depth, "title": text(manifest.get("title"), 200),
            "signer": text(signature.get("issuer") or signature.get("common_name"), 120),
            "signing_time": text(signature.get("time"), 60),
            "claim_generator": _generator(manifest),
            "actions": [a["action"] for a in actions][:20],
            "digital_source_types": list(dict.fromkeys(
                source_type_code(a["digital_source_type"]) for a in actions if a["digital_source_type"])),
            "failures": failures, "untrusted": any(c in TRUST_ONLY_FAILURES for c in codes),
            "status": "invalid" if failures else "valid"}


def _generator(manifest: dict[str, Any]) -> str | None:
    generator = text(manifest.get("claim_generator"), 120)
    info = [i for i in manifest.get("claim_generator_info") or [] if isinstance(i, dict)]
    if not generator and info:
        generator = " ".join(str(info[0][k]) for k in ("name", "version") if info[0].get(k)) or None
    return text(generator, 120)
