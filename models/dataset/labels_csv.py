"""The plain labelled CSV: columns `file` and `label`, anything else optional.

It is what a newsroom already has (a folder of images and a spreadsheet of
which are real) and what `zoomin dataset annotate` and `zoomin eval` accept
besides a JSONL split.  `file` is absolute or relative to the CSV's folder;
`label` is `real` or `fake`; a `generator` column is used when present and the
other columns ride along (for grouping results, e.g. `meta_flags`).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from models.dataset.records import LABELS
from models.dataset.validation import DatasetError

# Labels as people write them -> the dataset's two labels.
_LABEL_SPELLINGS = {"real": "real", "fake": "fake", "ai": "fake", "ai-generated": "fake", "generated": "fake"}


@dataclass(frozen=True)
class LabelledImage:
    """One CSV row: where the image is (resolved), its label and the other columns."""

    path: Path
    label: str
    generator: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    line: int = 0


def read_labels_csv(path: str | os.PathLike, images: str | os.PathLike | None = None) -> list[LabelledImage]:
    """Every row, or DatasetError naming the first bad line.  Relative `file` values resolve
    against `images` when given (annotate's DIR), else the CSV's folder.  Files are not
    opened here: a missing image is the caller's to count (evaluation) or report (annotation)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read labels file {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [name for name in ("file", "label") if name not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{path.name} needs the columns file and label; missing: {', '.join(missing)}", 1)
    folder = Path(images).resolve() if images is not None else path.resolve().parent
    rows: list[LabelledImage] = []
    seen: dict[Path, int] = {}
    for line, row in enumerate(reader, start=2):
        file = (row.get("file") or "").strip()
        if not file:
            raise DatasetError("empty 'file'", line)
        label = _LABEL_SPELLINGS.get((row.get("label") or "").strip().lower())
        if label not in LABELS:
            raise DatasetError(f"label must be real or fake, got {row.get('label')!r}", line)
        image = Path(file).expanduser()
        image = image if image.is_absolute() else folder / image
        if image in seen:
            raise DatasetError(f"{file} is listed twice (first on line {seen[image]})", line)
        seen[image] = line
        others = {key: (value or "") for key, value in row.items() if key not in ("file", "label") and key}
        rows.append(LabelledImage(path=image, label=label, generator=(row.get("generator") or "").strip(),
                                  columns=others, line=line))
    if not rows:
        raise DatasetError(f"{path.name} lists no images")
    return rows
