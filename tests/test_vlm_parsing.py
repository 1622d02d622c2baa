"""Reading stage-1 regions and stage-2 verdicts from realistic model outputs of every form."""

from __future__ import annotations

import pytest

from models.vlm.parsing import parse_examine, parse_scan

QWEN25_JSON = """```json
[
\t{"bbox_2d": [412, 220, 538, 361], "label": "left hand", "reason": "six fingers merge into the cup"},
\t{"bbox_2d": [96, 40, 300, 118], "label": "sign text", "reason": "letters are garbled"}
]
```"""

JSON_WITH_PROSE = ('Here are the suspicious regions:\n[{"bbox": [10, 20, 110, 220], "label": "face", '
                   '"description": "skin too smooth"}]\nThese areas show typical diffusion artifacts.')

TRUNCATED_JSON = ('[{"bbox_2d": [5, 6, 55, 66], "label": "ear", "reason": "asymmetric"}, '
                  '{"bbox_2d": [70, 80, 170, 180], "label": "hair", "reason": "strands melt"}, '
                  '{"bbox_2d": [200, 21')

QWEN_BOX_TOKENS = ("<|object_ref_start|>warped railing<|object_ref_end|><|box_start|>(120,455),(388,610)"
                   "<|box_end|> bends impossibly\n<|object_ref_start|>shadow<|object_ref_end|>"
                   "<|box_start|>(402,500),(640,700)<|box_end|>")

PLAIN_NUMBERS = "Suspicious regions:\n1. Hand: [34, 56, 190, 260]\n2. Background text (300, 10), (420, 80)\n"


def test_qwen25_json_in_code_fences():
    parsed = parse_scan(QWEN25_JSON)
    assert parsed.format == "json" and parsed.problem is None
    assert [b.coords for b in parsed.boxes] == [(412, 220, 538, 361), (96, 40, 300, 118)]
    assert parsed.boxes[0].label == "left hand" and "six fingers" in parsed.boxes[0].reason


def test_json_followed_by_prose_and_other_key_names():
    parsed = parse_scan(JSON_WITH_PROSE)
    assert [b.coords for b in parsed.boxes] == [(10, 20, 110, 220)]
    assert parsed.boxes[0].label == "face" and parsed.boxes[0].reason == "skin too smooth"


def test_truncated_list_keeps_the_complete_entries_and_says_so():
    parsed = parse_scan(TRUNCATED_JSON)
    assert [b.label for b in parsed.boxes] == ["ear", "hair"]
    assert parsed.notes and "cut off" in parsed.notes[0]


@pytest.mark.parametrize("text", [
    '{"regions": [{"x1": 1, "y1": 2, "x2": 30, "y2": 40, "label": "eye"}]}',
    '{"bbox_2d": [1, 2, 30, 40], "label": "eye"}',
    '[[1, 2, 30, 40]]',
    '[{"box": "[1, 2, 30, 40]", "name": "eye"}]',
])
def test_json_shapes_seen_from_different_models(text):
    assert [b.coords for b in parse_scan(text).boxes] == [(1, 2, 30, 40)]


def test_qwen_grounding_tokens():
    parsed = parse_scan(QWEN_BOX_TOKENS)
    assert parsed.format == "qwen-box-tokens"
    assert [b.coords for b in parsed.boxes] == [(120, 455, 388, 610), (402, 500, 640, 700)]
    assert parsed.boxes[0].label == "warped railing" and parsed.boxes[0].reason == "bends impossibly"
    assert parsed.boxes[1].label == "shadow"


def test_plain_numbers_with_the_line_as_label():
    parsed = parse_scan(PLAIN_NUMBERS)
    assert parsed.format == "plain-numbers"
    assert [b.coords for b in parsed.boxes] == [(34, 56, 190, 260), (300, 10, 420, 80)]
    assert parsed.boxes[0].label == "Hand"


@pytest.mark.parametrize("text", ["[]", "```json\n[]\n```", "No suspicious regions were found.", "None"])
def test_an_explicit_empty_answer_is_not_a_parse_failure(text):
    parsed = parse_scan(text)
    assert parsed.boxes == [] and parsed.said_none and parsed.problem is None


@pytest.mark.parametrize("text", ["", "ĠtheĠ<yst b lightix yes", "{\"label\": \"hand\"}"])
def test_unreadable_scan_says_why(text):
    parsed = parse_scan(text)
    assert parsed.boxes == [] and not parsed.said_none and parsed.problem


# ---------------------------------------------------------------------------- stage 2

ZOOMIN_ANSWER = """<think>Region 1 shows a hand with six fingers fused to the cup; the full image has
consistent lighting otherwise.</think>
<regions>[{"region": 1, "artifact": true, "finding": "six fingers"},
 {"region": 2, "artifact": false, "finding": "text is legible", "confidence": 0.8}]</regions>
<verdict>generated</verdict>"""


def test_full_examine_answer():
    parsed = parse_examine(ZOOMIN_ANSWER)
    assert parsed.verdict == "ai-generated" and parsed.problem is None
    assert ZOOMIN_ANSWER[parsed.verdict_start:].startswith("generated</verdict>")
    assert "six fingers fused" in parsed.reasoning
    assert parsed.findings[1].artifact is True and parsed.findings[1].finding == "six fingers"
    assert parsed.findings[2].artifact is False and parsed.findings[2].confidence == 0.8


@pytest.mark.parametrize("text, verdict", [
    ("<think>ok</think><verdict>real</verdict>", "real"),
    ("<think>ok</think> <verdict> Real </verdict>", "real"),
    ("Reasoning...\n**Verdict:** generated", "ai-generated"),
    ("<think>plastic skin</think><verdict>fake</verdict>", "ai-generated"),
    ("<think>looks fine</think><verdict>real", "real"),  # cut off right after the word
])
def test_verdict_forms(text, verdict):
    assert parse_examine(text).verdict == verdict


@pytest.mark.parametrize("text, problem", [
    ("<think>the lighting is odd", "no <verdict> tag"),
    ("", "empty"),
    ("<verdict>maybe</verdict>", "neither 'real' nor 'generated'"),
    ("<verdict>real</verdict> ... <verdict>generated</verdict>", "contradictory"),
    ("<verdict>gener", "neither 'real' nor 'generated'"),
])
def test_unparseable_verdicts_are_reported_never_guessed(text, problem):
    parsed = parse_examine(text)
    assert parsed.verdict is None and problem in parsed.problem and "could not be parsed" in parsed.problem


def test_findings_as_lines_and_the_analysts_answer():
    text = ("Region 1: the noise is flatter than elsewhere.\nRegion 2: consistent.\n"
            "<answer>The noise in region 1 is inconsistent with the rest.</answer>\n<verdict>generated</verdict>")
    parsed = parse_examine(text)
    assert parsed.findings[1].finding == "the noise is flatter than elsewhere."
    assert parsed.findings[2].artifact is None
    assert parsed.answer == "The noise in region 1 is inconsistent with the rest."
