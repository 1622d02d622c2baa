"""Plain-text rendering of an analysis for the terminal.

It leads with what a reader acts on: the verdict word, the headline, the
basis and what the tool cannot tell (models/reading.py), then the recovered
generation recipe (long prompts folded), one plain line per region, and only
then the measurements, as an expert reads them.
"""

from __future__ import annotations

import textwrap

from models.glossary import confidence_word, ranking_score_words, verdict_word
from models.reading import read_analysis, region_line
from models.types import Analysis, Reading

_WIDTH = 100
PROMPT_SHOWN = 200  # characters of a prompt shown; --json keeps it whole
FOLDED_FIELDS = ("Prompt", "Negative prompt")


def _human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _wrap(text: str, indent: int, hang: int = 0) -> str:
    pad = " " * indent
    return textwrap.fill(text, width=_WIDTH, initial_indent=pad, subsequent_indent=pad + " " * hang)


def fold(text: str, limit: int = PROMPT_SHOWN) -> str:
    """At most `limit` characters, cut at a word, with "…" where it was cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;") + "…"


def render_reading(reading: Reading, verdict: str) -> list[str]:
    """The plain part: verdict word, headline, basis, limits, key points, recipe."""
    figure = f"; {reading.figure_label}: {reading.figure:.2f}" if reading.figure is not None else ""
    lines = [f"  {verdict_word(verdict).upper()}  (confidence: {confidence_word(reading.confidence)}{figure})",
             _wrap(reading.headline, 2),
             _wrap(f"Why: {reading.basis}", 2, 5),
             _wrap(f"What it cannot tell: {reading.limits}", 2, 5)]
    if [point for point in reading.key_points if point != reading.basis]:
        lines.append("  Key points:")
        lines += [_wrap(f"- {point}", 4, 2) for point in reading.key_points if point != reading.basis]
    if reading.recipe:
        lines.append("  Generation recipe recovered from the file:")
        for name, value in reading.recipe.items():
            shown = fold(value) if name in FOLDED_FIELDS else value
            lines.append(_wrap(f"{name}: {shown}", 4, 4))
    return lines


def render_analysis(analysis: Analysis) -> str:
    reading = analysis.reading or read_analysis(analysis)
    lines = [
        f"{analysis.file}  ({analysis.format}, {analysis.width}x{analysis.height}, "
        f"{_human_size(analysis.size_bytes)}, sha256 {analysis.sha256[:16]}…)",
        *render_reading(reading, analysis.verdict),
    ]
    if analysis.regions:
        lines.append("  Areas to look at (box in displayed pixels [x1, y1, x2, y2]):")
        for region in analysis.regions:
            box = ", ".join(f"{v:.0f}" for v in region.box.to_list())
            lines.append(_wrap(f"{region.id:>3} [{box}]  {region_line(region)}", 4, 6))
    else:
        lines.append("  Areas to look at: none stands out")
    if analysis.answer:
        lines.append(f"  Question: {analysis.question}")
        lines += [_wrap(line, 4) for line in analysis.answer.splitlines()]
    lines += _measurements(analysis)
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in analysis.timings.items())
    lines.append(f"  Backend: {analysis.backend} {analysis.backend_version}; timings: {stages}")
    return "\n".join(lines)


def _measurements(analysis: Analysis) -> list[str]:
    """The expert detail, as before the plain reading existed."""
    lines = ["  Measurements (expert detail):",
             f"    Verdict {analysis.verdict.upper()}, {ranking_score_words(analysis.score)}",
             _wrap(analysis.explanation, 4)]
    for region in analysis.regions:
        box = ", ".join(f"{v:.0f}" for v in region.box.to_list())
        lines.append(f"    {region.id:>3} [{box}]  score {region.score:.2f}  {region.label}")
        lines.append(_wrap(region.explanation, 8))
    decisive_first = sorted(analysis.evidence, key=lambda e: (not e.decisive, -e.strength))
    if decisive_first:
        lines.append("    Evidence:")
        for item in decisive_first:
            marker = "decisive, " if item.decisive else ""
            lines.append(_wrap(f"[{item.kind}/{item.source}; {marker}supports {item.supports}, "
                               f"strength {item.strength:.2f}] {item.finding}", 6))
    for note in analysis.notes:
        lines.append(_wrap(f"Note: {note}", 4))
    return lines
