"""Plain-text rendering of an analysis for the terminal."""

from __future__ import annotations

import textwrap

from models.types import Analysis

_WIDTH = 100


def _human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    return textwrap.fill(text, width=_WIDTH, initial_indent=pad, subsequent_indent=pad)


def render_analysis(analysis: Analysis) -> str:
    lines = [
        f"{analysis.file}  ({analysis.format}, {analysis.width}x{analysis.height}, "
        f"{_human_size(analysis.size_bytes)}, sha256 {analysis.sha256[:16]}…)",
        f"  Verdict: {analysis.verdict.upper()}   score {analysis.score:.2f}  "
        "(how strongly the evidence says AI-generated or AI-composited, 0..1)",
        _wrap(analysis.explanation, 2),
    ]
    if analysis.regions:
        lines.append("  Regions (box in displayed pixels [x1, y1, x2, y2]):")
        for region in analysis.regions:
            box = ", ".join(f"{v:.0f}" for v in region.box.to_list())
            lines.append(f"    {region.id:>3} [{box}]  score {region.score:.2f}  {region.label}")
            lines.append(_wrap(region.explanation, 8))
    else:
        lines.append("  Regions: none stands out")
    decisive_first = sorted(analysis.evidence, key=lambda e: (not e.decisive, -e.strength))
    if decisive_first:
        lines.append("  Evidence:")
        for item in decisive_first:
            marker = "decisive, " if item.decisive else ""
            lines.append(_wrap(f"[{item.kind}/{item.source}; {marker}supports {item.supports}, "
                               f"strength {item.strength:.2f}] {item.finding}", 4))
    for note in analysis.notes:
        lines.append(_wrap(f"Note: {note}", 2))
    if analysis.answer:
        lines.append(f"  Question: {analysis.question}")
        lines += ["    " + line for line in analysis.answer.splitlines()]
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in analysis.timings.items())
    lines.append(f"  Backend: {analysis.backend} {analysis.backend_version}; timings: {stages}")
    return "\n".join(lines)
