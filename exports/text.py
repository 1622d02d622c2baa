"""Text from models and analysts, made safe for reportlab paragraphs.

reportlab's Paragraph reads a small XML-like markup (<font>, <img src=...>,
<a href=...>, entities): text passed in raw could change fonts, pull in files
or break the parser.  Everything here turns arbitrary text into markup that
shows exactly that text: escaped, control characters made visible, long
texts cut with a note saying so.  Long unbroken strings are wrapped by the
paragraph styles (splitLongWords), not here, so no character is added.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from xml.sax.saxutils import escape

# A model can return pages of text; the case store keeps it all, the report shows this much of each item.
MAX_CHARS = 8000
# Bidirectional overrides and isolates would let text display in another order than it is stored.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _visible(ch: str) -> str:
    if ch == "\n":
        return ch
    if ch == "\t":
        return "    "
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs", "Cn") or ch in _BIDI_CONTROLS or ch in "\u2028\u2029":
        # Shown, not dropped: an examiner should see that the text held it.
        return f"[U+{ord(ch):04X}]"
    return ch


def clean(text: Any, limit: int = MAX_CHARS) -> str:
    """Plain text with control, surrogate, unassigned and bidi-control characters
    shown as [U+XXXX], line breaks normalised, cut after `limit` characters."""
    value = "" if text is None else str(text)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    cut = len(value) - limit if len(value) > limit else 0
    if cut:
        value = value[:limit]
    shown = "".join(_visible(ch) for ch in value)
    if cut:
        shown += f" [... {cut} more characters not shown; the full text is in the case store]"
    return shown


def markup(text: Any, limit: int = MAX_CHARS) -> str:
    """Paragraph markup that renders `text` literally."""
    return escape(clean(text, limit)).replace("\n", "<br/>")


def compact_json(value: Any, limit: int = 600) -> str:
    """A short one-line rendering of a recorded value (parameters, audit before/after)."""
    if isinstance(value, str):
        return clean(value, limit)
    try:
        shown = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        shown = repr(value)
    return clean(shown, limit)


def fold_lines(text: Any, max_lines: int) -> str:
    """`text` cut after `max_lines` lines, with a last line saying how many more
    the case file holds; shorter text is returned unchanged."""
    value = "" if text is None else str(text)
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) <= max_lines:
        return value
    return "\n".join([*lines[:max_lines], fold_note(len(lines) - max_lines)])


def fold_note(more_lines: int) -> str:
    """The last line of folded text; the case store keeps every line."""
    return f"\u2026 ({more_lines} more line{'' if more_lines == 1 else 's'} in the case file)"


# A reader has only the report: the tool's own texts sometimes point to a docs/ file.
_DOC_IN_PARENTHESES = re.compile(r"\s*\((?:see\s+)?docs/[^)\s]+\)")
_DOC_INLINE = re.compile(r"\s*[;,]?\s*(?:see\s+)?docs/[\w./#-]*[\w#]")


def without_doc_references(text: str) -> str:
    """The tool's text without its references to project documentation files."""
    return _DOC_INLINE.sub("", _DOC_IN_PARENTHESES.sub("", text or ""))
