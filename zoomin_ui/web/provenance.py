"""The provenance panel in plain words: Content Credentials, generator
metadata, watermark and camera metadata, each a sentence first with the raw
details kept for a folded section.  Service layer (no Gradio)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from models.evidence.credentials_words import manifest_tree_lines
from models.evidence.finding_words import plain_finding
from models.evidence.topics import provenance_topic
from models.types import Evidence


@dataclass(frozen=True)
class ProvenanceTopic:
    topic: str
    plain: str
    raw: str  # the findings' details as JSON, for the folded section


_ABSENT = {
    "Content Credentials (C2PA)": "No Content Credentials: the file carries no C2PA manifest.",
    "Generator metadata": "No generator metadata: nothing in the file names an AI tool or its settings.",
    "Invisible watermark": "No known invisible watermark was detected.",
    "Camera metadata": "No camera metadata (make, model, exposure) was found.",
}


# The panel's heading for each topic; other provenance findings sit with the credentials.
_HEADINGS = {"c2pa": "Content Credentials (C2PA)", "other-provenance": "Content Credentials (C2PA)",
             "watermark": "Invisible watermark", "camera": "Camera metadata", "generator": "Generator metadata"}


def _topic(item: Evidence) -> str:
    topic = provenance_topic(item)
    return _HEADINGS[topic] if topic else ""


def _plain(items: Sequence[Evidence]) -> str:
    """The plain sentence per finding (the report's words too); the expert finding
    and its weight stay in the raw details folded beneath."""
    return "\n".join(plain_finding(item) for item in items)


def provenance_topics(evidence: Sequence[Evidence]) -> list[ProvenanceTopic]:
    """One entry per topic, in a fixed order, absent topics said plainly."""
    grouped: dict[str, list[Evidence]] = {topic: [] for topic in _ABSENT}
    for item in evidence:
        topic = _topic(item)
        if topic:
            grouped[topic].append(item)
    topics = []
    for topic, items in grouped.items():
        raw = json.dumps([i.to_dict() for i in items], indent=1, ensure_ascii=False, default=str)
        tree = [line for i in items if i.source == "c2pa" for line in manifest_tree_lines(i.details)]
        if tree:  # the manifest store as a tree, above the details it is drawn from
            raw = "Manifest store:\n" + "\n".join(tree) + "\n\n" + raw
        topics.append(ProvenanceTopic(topic, _plain(items) if items else _ABSENT[topic], raw if items else ""))
    return topics


def provenance_text(evidence: Sequence[Evidence]) -> tuple[str, str]:
    """(plain words for every topic, the raw details) as two text blocks."""
    topics = provenance_topics(evidence)
    plain = "\n\n".join(f"{t.topic}: {t.plain}" for t in topics)
    raw = "\n\n".join(f"{t.topic}:\n{t.raw}" for t in topics if t.raw) or "(no raw details)"
    return plain, raw
