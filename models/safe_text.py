"""One rule for text from outside: made safe once, where it enters.

Any string read from a file (metadata, a manifest, a bundle), a file name or
a command-line argument may hold lone surrogates: a JSON escape such as
"\\ud800", or bytes that are not UTF-8 which Python keeps as surrogateescape
code points (argv, os.listdir).  Python carries such strings happily until
the moment they are written out (stdout, SQLite, a PDF), where they raise
UnicodeEncodeError and take a whole batch with them.  Numbers have the same
trap: NaN and Infinity are no JSON, and a strict reader refuses them.

So every boundary calls one of these:
- safe_text(text): lone surrogates (and surrogateescape'd bytes) become
  U+FFFD; valid surrogate pairs are joined into the character they encode;
- safe_value(value): the same for every string (and key) in a JSON-like
  tree, and non-finite floats become None; it returns the repairs made so
  the caller can note them where the analyst will read it;
- strict_dumps(value): JSON text that is always valid strict JSON and can
  never raise on content (allow_nan=False after safe_value), with control
  characters that JSON leaves raw escaped, so it is safe on a terminal too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

REPLACEMENT = "\ufffd"


@dataclass
class Repairs:
    """What safe_value changed, to be noted beside the value."""

    characters: int = 0  # invalid characters replaced by U+FFFD
    numbers: int = 0     # NaN or infinite numbers replaced by null

    def __bool__(self) -> bool:
        return bool(self.characters or self.numbers)

    def add(self, other: Repairs) -> None:
        self.characters += other.characters
        self.numbers += other.numbers

    def describe(self, where: str) -> str:
        """One sentence for Analysis.notes, e.g. where='the file's metadata'."""
        parts = []
        if self.characters:
            parts.append(f"{self.characters} invalid character{'s' if self.characters != 1 else ''} "
                         f"(lone surrogates or bytes that are not UTF-8), shown as {REPLACEMENT}")
        if self.numbers:
            parts.append(f"{self.numbers} number{'s' if self.numbers != 1 else ''} that JSON cannot hold "
                         "(NaN or infinity), recorded as null")
        return f"{where} held " + "; and ".join(parts)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def safe_text_counted(text: str) -> tuple[str, int]:
    """`text` with every lone surrogate replaced by U+FFFD, and how many were replaced."""
    if text.isascii() or not _has_surrogate(text):
        return text, 0
    # UTF-16 with surrogatepass joins a high+low pair into its character and
    # leaves each lone half to the decoder's 'replace', which writes U+FFFD.
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count(REPLACEMENT) - text.count(REPLACEMENT)


def safe_text(text: str) -> str:
    """`text`, safe to write anywhere: lone surrogates become U+FFFD."""
    return safe_text_counted(text)[0]


def safe_value(value: Any) -> tuple[Any, Repairs]:
    """A JSON-like tree (dict, list, tuple, str, numbers, None) made writable:
    strings and keys through safe_text, non-finite floats to None.

    Other objects are returned as they are (json's own `default` decides on
    them).  The input is never modified; unchanged branches are shared."""
    repairs = Repairs()
    return _clean(value, repairs), repairs


def _clean(value: Any, repairs: Repairs) -> Any:
    if isinstance(value, str):
        fixed, count = safe_text_counted(value)
        repairs.characters += count
        return fixed
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        repairs.numbers += 1
        return None
    if isinstance(value, dict):
        return {_clean(key, repairs) if isinstance(key, str) else key: _clean(item, repairs)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item, repairs) for item in value]
    return value


# Characters json.dumps(ensure_ascii=False) writes raw although a terminal may act
# on them: DEL, C1 controls, bidi embeddings/overrides/isolates/marks and the
# line separators (which also end a line in JavaScript).  Written as \u escapes,
# the JSON means the same and is safe to print.
_JSON_RAW_CONTROLS = {code: f"\\u{code:04x}" for code in (
    0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
    0x2028, 0x2029)}


def strict_dumps(value: Any, note_key: str | None = "notes", **options: Any) -> str:
    """JSON text of `value` that a strict parser accepts, whatever it holds.

    What had to be repaired is appended as one sentence to the list under
    `note_key` when `value` is a dict that has one (an Analysis' notes).
    Extra keyword arguments go to json.dumps (indent, ensure_ascii ...);
    non-ASCII text stays readable, control characters are escaped."""
    cleaned, repairs = safe_value(value)
    if repairs and note_key and isinstance(cleaned, dict) and isinstance(cleaned.get(note_key), list):
        cleaned[note_key] = [*cleaned[note_key], repairs.describe("this output")]
    options.setdefault("ensure_ascii", False)
    return json.dumps(cleaned, allow_nan=False, **options).translate(_JSON_RAW_CONTROLS)


def loads_keeping_constants(text: str) -> Any:
    """json.loads for text from a file: NaN, Infinity and -Infinity, which some
    generators write though JSON has no such values, are kept as the strings
    the file holds ("NaN"), so the record says what was there and stays JSON."""
    return json.loads(text, parse_constant=str)
