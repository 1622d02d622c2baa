"""models/safe_text.py and zoomin_ui/terminal.py: any text, any JSON-like
value, is written strictly and shown without a control character."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from models.safe_text import safe_text, safe_value, strict_dumps
from tests.hostile_files import strict_json
from zoomin_ui.terminal import terminal_safe

# Any code point, lone surrogates and controls included (Hypothesis' default text leaves surrogates out).
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40)
JSONISH = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | ANY_TEXT,
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                       max_leaves=20)


def test_safe_text_joins_pairs_and_replaces_lone_halves():
    assert safe_text("\ud83d\ude00 ok") == "\U0001f600 ok"  # a pair held as two code points is one character
    assert safe_text("KSampler\ud800") == "KSampler\ufffd"
    assert safe_text(b"caf\xe9.png".decode("utf-8", "surrogateescape")) == "caf\ufffd.png"
    plain = "Straße 🚒 حريق"
    assert safe_text(plain) is plain


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_anything_json_like_serialises_strictly_and_says_what_it_repaired(value):
    cleaned, repairs = safe_value(value)
    text = strict_dumps(cleaned)
    text.encode("utf-8")  # never a surrogate left
    assert strict_json(text) == json.loads(text)
    assert not safe_value(cleaned)[1]  # repairing twice finds nothing more
    if not repairs:
        assert cleaned == value or value != value  # NaN is not equal to itself


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_terminal_output_holds_no_control_character(text):
    shown = terminal_safe(text, keep_newlines=False)
    shown.encode("utf-8")
    bidi = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not [ch for ch in shown if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in bidi]


def test_terminal_safe_keeps_ordinary_text_and_layout():
    assert terminal_safe("Case 3: Hafenbrand\n  notes: zwei\tZeilen") == "Case 3: Hafenbrand\n  notes: zwei\tZeilen"
    assert terminal_safe("a\nb", keep_newlines=False) == "a\\nb"
    assert terminal_safe("\u202eabc\u2066\x7f\x85\u2028") == "\\u202eabc\\u2066\\x7f\\x85\\u2028"
    # Joiners and right-to-left script are text, not controls.
    assert terminal_safe("👩‍🚒 فاطمة") == "👩‍🚒 فاطمة"


def test_a_computed_nan_is_written_as_null_and_noted():
    record = strict_json(strict_dumps({"score": float("nan"), "sizes": [float("inf"), 1.5], "notes": []}))
    assert record["score"] is None and record["sizes"] == [None, 1.5]
    assert "2 numbers that JSON cannot hold" in record["notes"][0]
