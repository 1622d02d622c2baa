"""The names a case's files are handed out under: `case-12-harbour-fire.pdf`.

A reader who saves a report and a bundle next to others must tell at once
which case each belongs to, so the name carries the case id and a slug of
its title: ASCII, lower case, bounded, never empty.  The file still has to be
unique in the exports folder (two exports of one case must not overwrite a
file the page may be serving), so each export gets a folder of its own and
the readable name inside it.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

MAX_SLUG = 40
UNTITLED = "untitled"
# Letters Unicode does not decompose into an ASCII letter plus accents.
_SPELLED = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
                          "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ı": "i"})


def title_slug(title: str, limit: int = MAX_SLUG) -> str:
    """'Harbour fire — Ünïcode!' -> 'harbour-fire-unicode'; whole words up to
    `limit` characters (a first word longer than that is cut); 'untitled' when
    nothing readable is left."""
    spelled = unicodedata.normalize("NFKD", (title or "").translate(_SPELLED))
    ascii_text = spelled.encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > limit:
            break
        slug = longer
    if not slug and words:
        slug = words[0][:limit]
    return slug or UNTITLED


def download_name(case_id: int, title: str, suffix: str) -> str:
    """`case-<id>-<slug of the title><suffix>`, e.g. case-12-harbour-fire.pdf."""
    return f"case-{case_id}-{title_slug(title)}{suffix}"


def export_destination(folder: Path, case_id: int, title: str, suffix: str) -> Path:
    """Where to write one export: a fresh folder under `folder` (time-ordered,
    never reused), holding the file under its readable name."""
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    target = folder / stamp
    target.mkdir(parents=True, exist_ok=False)
    return target / download_name(case_id, title, suffix)


@contextmanager
def unused_folder_removed(destination: Path) -> Iterator[None]:
    """An export that fails leaves no empty folder behind."""
    try:
        yield
    except BaseException:
        if destination.parent.is_dir() and not any(destination.parent.iterdir()):
            destination.parent.rmdir()
        raise
