"""Terminal-safe human output: what the CLI prints for people cannot drive
their terminal.

A case title, a file name or a metadata string is text from outside.  Printed
raw, ESC and BEL sequences retitle the analyst's terminal or repaint it, a
carriage return hides what came before it on the line, and bidirectional
overrides show text in another order than it is stored.  Every line of human
output therefore goes through `echo` (and every error through
TerminalSafeGroup), which shows such characters escaped, as Python writes
them ("\\x1b", "\\u202e").  JSON output is left to json.dumps, which escapes
control characters itself.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import click

from models.safe_text import safe_text

# Characters that change how a terminal shows text without being text:
# C0/C1 controls and DEL (category Cc), bidi embeddings, overrides, isolates
# and marks, and the Unicode line/paragraph separators.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LAYOUT = frozenset({"\n", "\t"})


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _is_unsafe(char: str) -> bool:
    if char in _LAYOUT:
        return False
    if char in _BIDI_CONTROLS:
        return True
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def terminal_safe(text: str, keep_newlines: bool = True) -> str:
    """`text` with every control character shown escaped.

    Newlines and tabs are kept when `keep_newlines` (multi-line output that
    the program itself laid out); a single field printed on one line passes
    keep_newlines=False so it cannot fake extra lines.  Lone surrogates
    (bytes that were not UTF-8) are shown as U+FFFD."""
    text = safe_text(text)
    if text.isprintable() and (keep_newlines or "\t" not in text):
        return text
    return "".join(_escaped(ch) if _is_unsafe(ch) or (not keep_newlines and ch in _LAYOUT) else ch
                   for ch in text)


def echo(message: Any = "", err: bool = False, keep_newlines: bool = True) -> None:
    """click.echo for human-readable output, made terminal-safe."""
    click.echo(terminal_safe(str(message), keep_newlines=keep_newlines), err=err)


class TerminalSafeGroup(click.Group):
    """A click group whose errors (ClickException, UsageError, BadParameter,
    which may quote a file name or a value the user gave) are printed
    terminal-safe, for every command below it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = terminal_safe(exc.message)
            raise


class SafeText(click.ParamType):
    """A text option from the command line (a title, a name, a question), made
    safe where it enters: bytes that are not UTF-8, which Python keeps as lone
    surrogates in argv, become U+FFFD, and the analyst is told so on stderr."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        fixed = safe_text(text)
        if fixed != text:
            flag = param.opts[0] if param is not None and param.opts else "a value"
            click.echo(f"note: {flag} held bytes that are not UTF-8; they were replaced by \ufffd", err=True)
        return fixed


SAFE_TEXT = SafeText()
