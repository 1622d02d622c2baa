"""Provenance: what the file says about its own origin, as the analysis
recorded it: Content Credentials (C2PA), generator metadata, invisible
watermarks and camera metadata."""

from __future__ import annotations

from typing import Any

from reportlab.platypus import Flowable, Paragraph

from exports.region_section import evidence_table
from exports.report_model import EvidenceView
from exports.styles import Styles, key_values, para
from exports.text import compact_json, without_doc_references
from models.evidence.credentials_words import action_summary, credentials_lines, is_credentials, manifest_tree_lines
from models.evidence.topics import provenance_topic
from models.types import Evidence


def provenance_section(index: int, item: EvidenceView, styles: Styles, width: float) -> list[Flowable]:
    story: list[Flowable] = [Paragraph(f"Provenance and metadata of evidence item {index}", styles.h1)]
    analysis = item.analysis
    if analysis is None:
        return story + [Paragraph("No finished analysis: nothing was read from this file's metadata.", styles.body)]
    evidence = list(analysis.evidence)
    checked = set(analysis.timings)  # the stages this backend ran

    def absent(stage: str, what: str) -> Paragraph:
        if stage in checked:
            return para(f"None found. {what}", styles.body)
        return para(f"Not examined by the {analysis.backend.backend} backend.", styles.body)

    topics = [provenance_topic(e) for e in evidence]

    def about(topic: str) -> list[Evidence]:
        return [e for e, t in zip(evidence, topics) if t == topic]

    c2pa = about("c2pa")
    story.append(Paragraph("Content Credentials (C2PA)", styles.h2))
    story += [key_values(_c2pa_rows(e), styles, width) for e in c2pa] or [
        absent("provenance", "Most images carry no Content Credentials, and they are easily stripped; "
                             "their absence says nothing about the image.")]
    generator = about("generator")
    story.append(Paragraph("Generator metadata", styles.h2))
    story += [key_values(_metadata_rows(e), styles, width) for e in generator] or [
        absent("metadata", "Generator metadata can be stripped or forged: its absence proves nothing.")]
    watermarks = about("watermark")
    story.append(Paragraph("Invisible watermarks", styles.h2))
    story += [evidence_table(watermarks, styles, width)] if watermarks else [
        absent("watermark", "Most generators embed no watermark this tool can read.")]
    camera = about("camera")
    story.append(Paragraph("Camera metadata", styles.h2))
    story += [key_values(_camera_rows(e), styles, width) for e in camera] or [
        absent("metadata", "No camera make or model in EXIF (shared images usually have it stripped).")]
    other = about("other-provenance")
    if other:
        story += [Paragraph("Other provenance findings", styles.h2), evidence_table(other, styles, width)]
    return story


def _weight(item: Evidence) -> str:
    return f"{item.supports}, strength {item.strength:.2f}" + (", decisive" if item.decisive else "")


def _c2pa_rows(item: Evidence) -> list[tuple[str, object]]:
    d: dict[str, Any] = item.details
    signer = ", ".join(str(v) for v in (d.get("signer"), d.get("signer_common_name"), d.get("signer_issuer")) if v)
    actions = [_action(a) for a in d.get("actions") or [] if isinstance(a, dict)]
    plain = "\n".join(credentials_lines(d)) if is_credentials(d) else without_doc_references(item.finding)
    rows: list[tuple[str, object]] = [
        ("In plain words", plain),
        ("Signer", signer or "not named"),
        ("Signing time", d.get("signing_time") or "-"),
        ("Claim generator", d.get("claim_generator") or "-"),
        ("Actions", action_summary(d) or "none recorded"),
        ("Validation state (technical)", (f"{d.get('validation_state') or 'unknown'}; integrity "
                                          f"{'intact' if d.get('integrity_ok') else 'NOT intact'}")),
        ("Failure codes (technical)", ", ".join(map(str, d.get("failure_codes") or [])) or "none"),
        ("Signer trust", str(d.get("trust_status") or "unknown")),
        ("Actions as recorded", "; ".join(actions) or "none recorded"),
        ("Digital source type", ", ".join(map(str, d.get("digital_source_types") or [])) or "none declared"),
        ("Ingredients", str(d.get("ingredient_count", 0))),
        ("Manifest store", "\n".join(manifest_tree_lines(d, compact=True)) or "not read"),
        ("Overall state (as Verify shows it)", str(d.get("store_state") or "unknown")
         + (f": failed at {'; '.join(map(str, d['failed_at']))}" if d.get("failed_at") else "")),
        ("Trust list", _trust_lists(d)),
        ("Weight", _weight(item)),
    ]
    declared = [("Watermark declared", ", ".join(map(str, d.get("watermarks") or []))),
                ("Soft bindings", ", ".join(str(b.get("alg")) for b in d.get("soft_bindings") or []
                                            if isinstance(b, dict))),
                ("Identity assertions (CAWG)", "; ".join(
                    f"{i.get('sig_type')}: {', '.join(map(str, i.get('names') or [])) or 'no name'}, "
                    + ("verified" if i.get("verified") else f"NOT verified ({', '.join(map(str, i.get('failures') or []))})")
                    for i in d.get("identities") or [] if isinstance(i, dict)))]
    rows[-1:-1] = [(label, value) for label, value in declared if value]
    if d.get("errors"):
        rows.append(("Reader errors", "; ".join(map(str, d["errors"]))))
    return rows


def _trust_lists(d: dict[str, Any]) -> str:
    lists = [t for t in d.get("trust_lists") or [] if isinstance(t, dict)]
    if not lists:
        return "none loaded"
    return "; ".join(f"C2PA {t.get('kind')} list issued {t.get('issued')}, {t.get('certificates')} certificates"
                     + (" (PAST its next update)" if t.get("expired") else "") for t in lists)


def _action(action: dict[str, Any]) -> str:
    parts = [str(action.get("action") or "?")]
    for key, name in (("digital_source_type", "source type"), ("software_agent", "by"),
                      ("description", "")):
        if action.get(key):
            parts.append(f"{name} {action[key]}".strip())
    return " - ".join(parts)


def _metadata_rows(item: Evidence) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [("Where", item.source), ("Finding", without_doc_references(item.finding)),
                                      ("Weight", _weight(item))]
    for key, value in item.details.items():
        if value not in (None, "", [], {}):
            rows.append((key.replace("_", " "), compact_json(value)))
    return rows


def _camera_rows(item: Evidence) -> list[tuple[str, object]]:
    d = item.details
    rows: list[tuple[str, object]] = [("Finding", without_doc_references(item.finding))]
    for key in ("make", "model", "captured", "lens", "software"):
        if d.get(key):
            rows.append((key.capitalize(), d[key]))
    rows.append(("GPS position", "present" if d.get("gps") else "absent"))
    exposure = {k: v for k, v in d.items() if k not in ("make", "model", "captured", "lens", "software", "gps")}
    if exposure:
        rows.append(("Exposure", compact_json(exposure)))
    rows.append(("Weight", _weight(item)))
    return rows
