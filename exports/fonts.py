"""The report's TrueType fonts.

Helvetica, reportlab's default, has no Greek or Cyrillic, and notes from
analysts and text from models come in any language.  DejaVu ships with
matplotlib (a declared dependency) and covers Latin with accents, Greek and
Cyrillic; ZOOMIN_REPORT_FONT names another .ttf to use instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from exports.errors import ReportError

FONT_ENV = "ZOOMIN_REPORT_FONT"


@dataclass(frozen=True)
class FontSet:
    """reportlab names of the registered fonts."""

    regular: str
    bold: str
    mono: str


def _dejavu_folder() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_files() -> dict[str, Path]:
    """Which file each face comes from; an override replaces all three faces."""
    override = os.environ.get(FONT_ENV, "").strip()
    if override:
        path = Path(override).expanduser()
        if path.suffix.lower() != ".ttf" or not path.is_file():
            raise ReportError(f"{FONT_ENV}={override}: not a readable .ttf font file", "font")
        return {"regular": path, "bold": path, "mono": path}
    folder = _dejavu_folder()
    files = {"regular": folder / "DejaVuSans.ttf", "bold": folder / "DejaVuSans-Bold.ttf",
             "mono": folder / "DejaVuSansMono.ttf"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ReportError(f"the report font is missing ({', '.join(missing)}); reinstall matplotlib or set "
                          f"{FONT_ENV} to a .ttf file covering Latin, Greek and Cyrillic", "font")
    return files


def register_fonts() -> FontSet:
    files = font_files()
    return _register(tuple(sorted((face, str(path)) for face, path in files.items())))


@lru_cache(maxsize=4)
def _register(files: tuple[tuple[str, str], ...]) -> FontSet:
    # Registration parses the font file; done once per set of files.
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    names = {}
    for face, path in files:
        name = f"ZoomIn-{face}-{Path(path).stem}"
        try:
            pdfmetrics.registerFont(TTFont(name, path))
        except (TTFError, OSError) as exc:
            raise ReportError(f"cannot use the report font {path}: {exc}", "font") from None
        names[face] = name
    fonts = FontSet(regular=names["regular"], bold=names["bold"], mono=names["mono"])
    # So that <b> inside a paragraph picks the bold face.
    for bold, italic in ((0, 0), (0, 1)):
        addMapping(fonts.regular, bold, italic, fonts.regular)
    for italic in (0, 1):
        addMapping(fonts.regular, 1, italic, fonts.bold)
    return fonts
