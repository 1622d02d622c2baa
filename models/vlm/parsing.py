"""Reading what a vision-language model wrote, whatever form it took.

Stage 1 (regions): JSON (bare, in code fences, followed by prose, or cut off
mid-list), Qwen's grounding tokens `<|object_ref_start|>label<|object_ref_end|>
<|box_start|>(x1,y1),(x2,y2)<|box_end|>`, or plain numbers in brackets.
Stage 2 (verdict): `<think>…</think>`, per-region findings, `<verdict>real|
generated</verdict>`, an optional `<answer>`.  Coordinates stay in the model's
units here; geometry.py maps them.  Nothing is guessed: what cannot be read
comes back with `problem` saying why, and a missing verdict stays missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

NUMBER = r"-?\d+(?:\.\d+)?"
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)
_QWEN_BOX = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.*?)<\|object_ref_end\|>\s*)?"
    rf"<\|box_start\|>\s*\(\s*(?P<x1>{NUMBER})\s*,\s*(?P<y1>{NUMBER})\s*\)\s*,\s*"
    rf"\(\s*(?P<x2>{NUMBER})\s*,\s*(?P<y2>{NUMBER})\s*\)\s*<\|box_end\|>(?P<rest>[^\n<]*)", re.S)
_PLAIN_BOX = re.compile(
    rf"[\[(]\s*(?P<x1>{NUMBER})\s*,\s*(?P<y1>{NUMBER})\s*[\])]?\s*,\s*[\[(]?\s*(?P<x2>{NUMBER})\s*,\s*"
    rf"(?P<y2>{NUMBER})\s*[\])]")
_NO_REGIONS = re.compile(r"\bno (?:suspicious |such )?(?:regions?|areas?|artifacts?)\b|\bnothing suspicious\b"
                         r"|^\W*none\W*$", re.I | re.M)
_BOX_KEYS = ("bbox_2d", "bbox", "box", "bounding_box", "bounding box", "coordinates", "region", "box_2d")
_LABEL_KEYS = ("label", "name", "type", "category", "artifact", "title")
_REASON_KEYS = ("reason", "description", "explanation", "why", "evidence", "finding")

VERDICT_WORDS: dict[str, str] = {
    "generated": "ai-generated", "ai-generated": "ai-generated", "fake": "ai-generated",
    "synthetic": "ai-generated", "ai": "ai-generated",
    "real": "real", "authentic": "real", "genuine": "real",
}
_VERDICT_TAG = re.compile(r"<verdict>\s*\**\s*(?P<word>[A-Za-z-]+)\s*\**\s*(?:</verdict>|$)", re.I)
_VERDICT_LINE = re.compile(r"^[\W_]*(?:final\s+)?verdict[\W_]*[:=][\s*_\"']*(?P<word>[A-Za-z-]+)", re.I | re.M)


def _tag(text: str, name: str) -> str | None:
    match = re.search(rf"<{name}>(.*?)(?:</{name}>|$)", text, re.S | re.I)
    return match.group(1).strip() if match else None


@dataclass
class ProposedBox:
    """One region as the model wrote it (coordinates in the model's units)."""

    coords: tuple[float, float, float, float]
    label: str = ""
    reason: str = ""


@dataclass
class ScanParse:
    boxes: list[ProposedBox]
    format: Literal["json", "qwen-box-tokens", "plain-numbers", "none"]
    said_none: bool = False          # the model answered that nothing is suspicious
    problem: str | None = None       # why no region could be read (None when boxes were read or none were named)
    notes: list[str] = field(default_factory=list)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """(reasoning, answer) of a thinking model's output: `<think>…</think>` before the answer,
    or reasoning ended by a bare `</think>` (Qwen3 -Thinking and Qwen3.5 templates open the
    block in the prompt).  The answer is None when the thinking never ended (cut off)."""
    end = text.find("</think>")
    opened = text.lstrip().startswith("<think>")
    if end < 0:
        return (text.lstrip()[len("<think>"):], None) if opened else ("", text)
    reasoning = text[:end].strip()
    return (reasoning[len("<think>"):].strip() if reasoning.startswith("<think>") else reasoning,
            text[end + len("</think>"):])


def parse_scan(text: str) -> ScanParse:
    """The regions in a stage-1 answer, in the first format that yields any; a thinking
    model's reasoning before the answer is set aside (its numbers are not boxes)."""
    _, answer = split_reasoning(text)
    if answer is None:
        return ScanParse([], "none", problem="the model was still reasoning (<think> with no </think>) when the "
                                             "token limit cut its answer off; raise --max-new-tokens")
    text = answer
    items, truncated = _json_items(text)
    boxes = [box for box in (_box_from_json(item) for item in items) if box is not None]
    if boxes:
        notes = ["the region list was cut off; the complete entries were kept"] if truncated else []
        return ScanParse(boxes, "json", notes=notes)
    qwen = [ProposedBox(_coords(m), _clean(m.group("label")), _clean(m.group("rest")))
            for m in _QWEN_BOX.finditer(text)]
    if qwen:
        return ScanParse(qwen, "qwen-box-tokens")
    plain = [ProposedBox(_coords(m), _clean(_line_before(text, m.start()))) for m in _PLAIN_BOX.finditer(text)]
    if plain:
        return ScanParse(plain, "plain-numbers")
    if _said_empty_list(text) or _NO_REGIONS.search(text):
        return ScanParse([], "none", said_none=True)
    snippet = " ".join(text.split())[:80]
    return ScanParse([], "none", problem=f"no box could be read from the model's scan answer ({snippet!r}...)"
                     if snippet else "the model's scan answer was empty")


def _coords(match: re.Match) -> tuple[float, float, float, float]:
    return tuple(float(match.group(k)) for k in ("x1", "y1", "x2", "y2"))  # type: ignore[return-value]


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("<|box_end|>", "").strip(" :-–—,.;\t\n\"'*").split())[:160]


def _line_before(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    return re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", text[start:position])


def _said_empty_list(text: str) -> bool:
    stripped = re.sub(r"```(?:json)?|```", "", text).strip()
    return bool(re.match(r"^\[\s*\]", stripped)) or bool(re.search(r'"regions"\s*:\s*\[\s*\]', stripped))


def _json_items(text: str) -> tuple[list[Any], bool]:
    """Every JSON object the text holds as a region list; (items, whether the list was cut off)."""
    fenced = _FENCE.findall(text)
    sources = [*fenced, text] if fenced else [text]
    decoder = json.JSONDecoder()
    for source in sources:
        start = min((i for i in (source.find("["), source.find("{")) if i >= 0), default=-1)
        if start < 0:
            continue
        try:
            value, _ = decoder.raw_decode(source[start:])
        except json.JSONDecodeError:
            salvaged = _salvage_objects(source[start:], decoder)
            if salvaged:
                return salvaged, True
            continue
        items = _as_items(value)
        if items:
            return items, False
    return [], False


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("regions", "boxes", "suspicious_regions", "objects", "results"):
            if isinstance(value.get(key), list):
                return value[key]
        return [value]
    return []


def _salvage_objects(text: str, decoder: json.JSONDecoder) -> list[Any]:
    """The complete objects of a list that was cut off (the model ran out of tokens)."""
    found, position = [], 0
    while (start := text.find("{", position)) >= 0:
        try:
            value, end = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            position = start + 1
            continue
        found.extend(_as_items(value) if isinstance(value, dict) and "regions" in value else [value])
        position = start + end
    return found


def _box_from_json(item: Any) -> ProposedBox | None:
    if isinstance(item, list) and len(item) == 4 and all(isinstance(v, (int, float)) for v in item):
        return ProposedBox(tuple(float(v) for v in item))  # type: ignore[arg-type]
    if not isinstance(item, dict):
        return None
    lowered = {str(k).lower(): v for k, v in item.items()}
    coords = None
    for key in _BOX_KEYS:
        coords = _four_numbers(lowered.get(key))
        if coords:
            break
    if coords is None and all(k in lowered for k in ("x1", "y1", "x2", "y2")):
        coords = _four_numbers([lowered[k] for k in ("x1", "y1", "x2", "y2")])
    if coords is None:
        return None
    label = next((str(lowered[k]) for k in _LABEL_KEYS if isinstance(lowered.get(k), (str, int, float))), "")
    reason = next((str(lowered[k]) for k in _REASON_KEYS if isinstance(lowered.get(k), str)), "")
    return ProposedBox(coords, _clean(label), " ".join(reason.split())[:400])


def _four_numbers(value: Any) -> tuple[float, float, float, float] | None:
    if isinstance(value, dict):
        value = [value.get(k) for k in ("x1", "y1", "x2", "y2")]
    if isinstance(value, str):
        value = re.findall(NUMBER, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(p, (list, tuple)) for p in value):
        value = [*value[0], *value[1]]
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return None
    try:
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- stage 2


@dataclass
class RegionFinding:
    """What the model said about one region (1-based, in the order it was shown)."""

    index: int
    finding: str
    artifact: bool | None = None
    confidence: float | None = None


@dataclass
class ExamineParse:
    verdict: Literal["ai-generated", "real"] | None
    verdict_word: str | None = None
    verdict_start: int | None = None      # character offset of the verdict word (for its token probability)
    reasoning: str = ""
    findings: dict[int, RegionFinding] = field(default_factory=dict)
    answer: str | None = None
    problem: str | None = None            # why no verdict could be read


def parse_examine(text: str) -> ExamineParse:
    """The verdict, reasoning, per-region findings and answer in a stage-2 answer."""
    reasoning = _tag(text, "think")
    if reasoning is None and "</think>" in text:  # the template opened the block in the prompt
        reasoning = split_reasoning(text)[0]
    if reasoning is None:
        reasoning = re.sub(r"<(verdict|regions|answer)>.*?(</\1>|$)", " ", text, flags=re.S | re.I)
    parsed = ExamineParse(verdict=None, reasoning=" ".join(reasoning.split()), findings=_findings(text),
                          answer=_tag(text, "answer"))
    matches = list(_VERDICT_TAG.finditer(text)) or list(_VERDICT_LINE.finditer(text))
    if not matches:
        parsed.problem = ("the model's answer could not be parsed: it holds no <verdict> tag"
                          + (" (the answer may have been cut off by the token limit)" if text.strip() else
                             " (the answer was empty)"))
        return parsed
    words = {m.group("word").lower() for m in matches}
    meanings = {VERDICT_WORDS.get(w) for w in words}
    if None in meanings:
        unknown = sorted(w for w in words if w not in VERDICT_WORDS)
        parsed.problem = (f"the model's answer could not be parsed: its verdict {', '.join(map(repr, unknown))} "
                          "is neither 'real' nor 'generated'")
        return parsed
    if len(meanings) > 1:
        parsed.problem = "the model's answer could not be parsed: it gives contradictory verdicts"
        return parsed
    last = matches[-1]
    parsed.verdict = meanings.pop()  # type: ignore[assignment]
    parsed.verdict_word = last.group("word")
    parsed.verdict_start = last.start("word")
    return parsed


def _findings(text: str) -> dict[int, RegionFinding]:
    block = _tag(text, "regions")
    found: dict[int, RegionFinding] = {}
    if block:
        items, _ = _json_items(block)
        for position, item in enumerate(items, 1):
            if not isinstance(item, dict):
                continue
            lowered = {str(k).lower(): v for k, v in item.items()}
            index = _int(lowered.get("region", lowered.get("id", lowered.get("index", position))), position)
            finding = str(next((lowered[k] for k in ("finding", "reason", "explanation", "description")
                                if isinstance(lowered.get(k), str)), ""))
            artifact = lowered.get("artifact", lowered.get("suspicious", lowered.get("generated")))
            found[index] = RegionFinding(index, " ".join(finding.split()), artifact if isinstance(artifact, bool)
                                         else None, _unit(lowered.get("confidence", lowered.get("score"))))
    if not found:
        for match in re.finditer(r"^\W*region\s*(\d+)\s*[:.)-]\s*(.+)$", text, re.I | re.M):
            found.setdefault(int(match.group(1)), RegionFinding(int(match.group(1)), match.group(2).strip()))
    return found


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip().lstrip("r#"))
    except ValueError:
        return default


def _unit(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0.0 <= number <= 1.0 else None
