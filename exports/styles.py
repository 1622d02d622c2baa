"""Paragraph styles of the report, all in the registered TrueType fonts."""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph, Table, TableStyle

from exports.fonts import FontSet
from exports.text import fold_lines, fold_note, markup

MUTED = colors.HexColor("#555555")
RULE = colors.HexColor("#bbbbbb")
WARNING = colors.HexColor("#9a1c1c")
NOTE_BACKGROUND = colors.HexColor("#f3f3f3")
# A table row cannot continue on the next page, so a cell's text is folded to this many
# lines as displayed (after wrapping); longer text reads "... (N more lines in the case file)".
CELL_LINES = 8
CELL_PADDING = 6  # grid(): 3 pt each side


@dataclass(frozen=True)
class Styles:
    fonts: FontSet
    title: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    mono: ParagraphStyle
    cell: ParagraphStyle
    cell_mono: ParagraphStyle
    cell_head: ParagraphStyle
    warning: ParagraphStyle


def make_styles(fonts: FontSet) -> Styles:
    # splitLongWords (on by default, set here so it is not lost) breaks unbroken strings at the margin.
    base = ParagraphStyle("body", fontName=fonts.regular, fontSize=9.5, leading=12.5, spaceAfter=4,
                          splitLongWords=1)
    cell = ParagraphStyle("cell", parent=base, fontSize=8, leading=10, spaceAfter=0)
    return Styles(
        fonts=fonts,
        title=ParagraphStyle("title", parent=base, fontName=fonts.bold, fontSize=17, leading=21, spaceAfter=8),
        h1=ParagraphStyle("h1", parent=base, fontName=fonts.bold, fontSize=13, leading=16, spaceBefore=10,
                          spaceAfter=6, keepWithNext=1),
        h2=ParagraphStyle("h2", parent=base, fontName=fonts.bold, fontSize=10.5, leading=13, spaceBefore=8,
                          spaceAfter=4, keepWithNext=1),
        body=base,
        small=ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=MUTED),
        mono=ParagraphStyle("mono", parent=base, fontName=fonts.mono, fontSize=8.5, leading=11),
        cell=cell,
        cell_mono=ParagraphStyle("cell_mono", parent=cell, fontName=fonts.mono, fontSize=7.5),
        cell_head=ParagraphStyle("cell_head", parent=cell, fontName=fonts.bold),
        warning=ParagraphStyle("warning", parent=base, fontName=fonts.bold, textColor=WARNING),
    )


def para(text: object, style: ParagraphStyle, limit: int | None = None) -> Paragraph:
    """A paragraph showing `text` literally (never read as markup)."""
    return Paragraph(markup(text) if limit is None else markup(text, limit), style)


def cell(text: object, style: ParagraphStyle, width: float, max_lines: int = CELL_LINES,
         limit: int | None = None) -> Paragraph:
    """A table cell's paragraph, at most `max_lines` lines tall once wrapped into a
    column `width` wide (its padding included): longer text is folded with a note."""
    inner = max(1.0, width - CELL_PADDING)
    raw = ("" if text is None else str(text)).replace("\r\n", "\n").replace("\r", "\n")
    paragraph = para(fold_lines(raw, max_lines), style, limit)
    if _lines(paragraph, inner, style) <= max_lines + 1:  # + the fold note's own line
        return paragraph
    # Wrapped lines overflow: keep the longest start that fits, then the note.
    low, high = 0, min(len(raw), limit or len(raw))
    while low < high:
        middle = (low + high + 1) // 2
        if _lines(_cut(raw, middle, style), inner, style) <= max_lines + 1:
            low = middle
        else:
            high = middle - 1
    return _cut(raw, low, style)


def _cut(text: str, keep: int, style: ParagraphStyle) -> Paragraph:
    rest = text[keep:].count("\n") + 1  # the line cut in two counts as one more
    return Paragraph(markup(text[:keep]) + "<br/>" + markup(fold_note(rest)), style)


def _lines(paragraph: Paragraph, width: float, style: ParagraphStyle) -> float:
    _, height = paragraph.wrap(width, 1e9)
    return height / style.leading


def key_values(rows: list[tuple[str, object]], styles: Styles, width: float, mono_keys: frozenset[str] = frozenset(),
               limit: int = 1500, max_lines: int = CELL_LINES) -> Table:
    """A two-column table of labelled values; the values are escaped, wrapped and folded."""
    widths = [width * 0.27, width * 0.73]
    data = [[cell(key, styles.cell_head, widths[0], 3),
             cell(value, styles.cell_mono if key in mono_keys else styles.cell, widths[1], max_lines, limit)]
            for key, value in rows]
    return grid(data, widths)


def grid(data: list[list[object]], widths: list[float], header: bool = False) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(commands))
    return table
