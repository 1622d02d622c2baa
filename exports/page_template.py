"""Header and footer on every page: case id and title, page N of M, when the
report was generated (UTC and local offset), the tool's name and version.

"of M" is only known at the end, so the canvas keeps each page's state and
draws the header and footer when the document is saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from exports.fonts import FontSet
from exports.styles import MUTED, RULE
from exports.text import clean

PAGE_SIZE = A4
MARGIN = 18 * mm
HEADER_SPACE = 12 * mm


@dataclass(frozen=True)
class PageFrame:
    """What every page repeats."""

    case_line: str
    generated: str
    tool: str


def generated_line(when: datetime) -> str:
    """'2026-11-22 16:30:31 UTC (local 17:30:31 UTC+01:00)': the time in both, so no reader has to guess."""
    utc = when.astimezone(timezone.utc)
    local = when.astimezone()
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return f"Generated {utc:%Y-%m-%d %H:%M:%S} UTC (local {local:%Y-%m-%d %H:%M:%S} {offset})"


def _fit(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "...", font, size) > width:
        text = text[:-1]
    return text + "..."


def draw_frame(canvas: Canvas, frame: PageFrame, fonts: FontSet, page: int, total: int) -> None:
    width, height = PAGE_SIZE
    inner = width - 2 * MARGIN
    canvas.saveState()
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.setFillColor(MUTED)
    canvas.setFont(fonts.regular, 8)
    top = height - MARGIN + 4 * mm
    canvas.drawString(MARGIN, top, _fit(clean(frame.case_line, 400), fonts.regular, 8, inner - 30 * mm))
    canvas.drawRightString(width - MARGIN, top, f"Page {page} of {total}")
    canvas.line(MARGIN, top - 2 * mm, width - MARGIN, top - 2 * mm)
    bottom = MARGIN - 8 * mm
    canvas.line(MARGIN, bottom + 4 * mm, width - MARGIN, bottom + 4 * mm)
    canvas.drawString(MARGIN, bottom, frame.generated)
    canvas.drawRightString(width - MARGIN, bottom, frame.tool)
    canvas.restoreState()


def pdf_date(moment: datetime) -> str:
    """A PDF date string (creation and modification date) for `moment`, in UTC."""
    return f"D:{moment.astimezone(timezone.utc):%Y%m%d%H%M%S}+00'00'"


def numbered_canvas(frame: PageFrame, fonts: FontSet, page_count: list[int],
                    generated: datetime | None = None) -> type[Canvas]:
    """A Canvas class drawing `frame` on each page once the page total is known;
    the total is appended to `page_count`.  The document's creation date is
    `generated`: invariant mode would write 2000-01-01, and the clock would make
    two exports of one case at one time differ."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []
            if generated is not None:
                stamp = pdf_date(generated)
                self.setDateFormatter(lambda *_: stamp)

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                draw_frame(self, frame, fonts, number, total)
                super().showPage()
            page_count.append(total)
            super().save()

    return NumberedCanvas
