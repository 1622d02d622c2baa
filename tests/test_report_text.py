"""Units of the report's text handling: whatever a model or an analyst wrote
becomes paragraph markup that reportlab shows literally."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph

from exports.errors import ReportError
from exports.fonts import FONT_ENV, font_files, register_fonts
from exports.page_template import generated_line
from exports.text import clean, compact_json, markup


def _style() -> ParagraphStyle:
    return ParagraphStyle("t", fontName=register_fonts().regular, fontSize=9, leading=11)


def _shown(text: str) -> str:
    """What the paragraph displays, as text (its fragments, line breaks as newlines)."""
    paragraph = Paragraph(markup(text), _style())
    return "".join("\n" if getattr(frag, "lineBreak", False) else frag.text for frag in paragraph.frags)


@pytest.mark.parametrize("hostile", [
    "<font size=40>big</font>", '<img src="/etc/passwd" width=500/>', "<b>never closed", "</para>", "a & b",
    "&amp; stays &amp;", "&nbsp;&#169;", "<br/>not a break", "<a href='javascript:x'>x</a>", "<![CDATA[x]]>",
    "<!-- comment -->", "]]>", "<seq id='n'/>", "<onDraw name='x'/>",
])
def test_markup_is_shown_literally(hostile):
    assert _shown(hostile) == hostile


def test_control_and_direction_characters_are_made_visible():
    assert clean("bell\x07 nul\x00 esc\x1b del\x7f") == "bell[U+0007] nul[U+0000] esc[U+001B] del[U+007F]"
    assert clean("abc\u202edcba") == "abc[U+202E]dcba"  # a right-to-left override cannot reorder the text
    assert clean("lone \ud800 surrogate") == "lone [U+D800] surrogate"
    assert clean("tab\there\r\nnext\rline") == "tab    here\nnext\nline"
    assert markup("one\ntwo") == "one<br/>two"


def test_accents_greek_and_cyrillic_pass_unchanged():
    text = "café naïve Ελληνικά кириллица Zürich œ ß"
    assert clean(text) == text and _shown(text) == text


def test_the_font_covers_greek_and_cyrillic_and_a_bad_override_is_one_clear_error(tmp_path, monkeypatch):
    from reportlab.pdfbase.ttfonts import TTFont

    for face in ("regular", "bold", "mono"):
        covered = TTFont(f"probe-{face}", str(font_files()[face])).face.charToGlyph
        assert {ord(ch) for ch in "éøßçñαβΩЖжЯ"} <= set(covered), face
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(ReportError) as refused:
        register_fonts()
    assert refused.value.code == "font" and FONT_ENV in str(refused.value)


def test_long_text_is_cut_with_a_note():
    shown = clean("y" * 120, limit=100)
    assert shown.startswith("y" * 100) and "20 more characters not shown" in shown
    assert clean("short", limit=100) == "short"


def test_compact_json_is_one_escaped_line():
    assert compact_json({"b": [1, 2], "a": "<x>"}) == '{"a": "<x>", "b": [1, 2]}'
    assert compact_json("plain\x07") == "plain[U+0007]"
    cut = compact_json(list(range(1000)), limit=50)
    assert cut.startswith("[0, 1, 2, ") and "4840 more characters not shown" in cut


def test_generated_line_names_utc_and_the_local_offset():
    from datetime import datetime, timezone

    line = generated_line(datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc))
    assert line.startswith("Generated 2026-03-01 12:00:05 UTC (local ") and "UTC" in line.split("(local ")[1]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
       | st.text(alphabet="<>&;/=\"' abfontimgsrc#x0\n\x07", max_size=60))
def test_any_text_renders_as_itself(text):
    # What the page shows is the cleaned text (runs of spaces collapse, as in any paragraph):
    # nothing is read as markup, nothing dropped.
    assert _shown(text).split() == clean(text).split()
