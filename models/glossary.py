"""The words a reader sees, defined once: verdict words, the confidence
scale and short definitions of the terms the page, the CLI and the PDF
report use.  Nothing here names an install path or a docs/ file: a reader
of the report has only the report."""

from __future__ import annotations

from models.types import CONFIDENCES, VERDICTS

# The large word on the verdict card, the CLI's first line and the report's first page.
VERDICT_WORDS: dict[str, str] = {
    "ai-generated": "AI-generated",
    "real": "Likely real",
    "inconclusive": "Can't tell",
}

# The confidence scale (models.types.Confidence), in words.
CONFIDENCE_WORDS: dict[str, str] = {
    "provenance": "decided by provenance",
    "strong": "strong",
    "weak": "weak",
    "not-enough": "not enough to decide",
}

assert set(VERDICT_WORDS) == set(VERDICTS) and set(CONFIDENCE_WORDS) == set(CONFIDENCES)


def verdict_word(verdict: str | None) -> str:
    """The reader's word for a verdict ("not analysed yet" for none)."""
    if verdict is None:
        return "Not analysed yet"
    return VERDICT_WORDS.get(verdict, verdict)


def confidence_word(confidence: str) -> str:
    return CONFIDENCE_WORDS.get(confidence, confidence)
