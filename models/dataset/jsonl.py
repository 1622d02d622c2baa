"""Reading and writing a dataset split: one JSON Lines file, one image per row.

Image paths in the file are absolute or relative to the file's folder, so a
dataset folder can be moved as a whole; `read_dataset` hands back records
whose `path` is resolved to an absolute path, ready to open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from models.dataset.records import DatasetRecord
from models.dataset.validation import (
    DatasetError,
    DuplicateChecker,
    check_file_exists,
    check_record,
    record_from_dict,
    record_to_dict,
)

__all__ = ["DatasetError", "append_records", "dataset_problems", "read_dataset", "resolve_path", "write_dataset"]


def resolve_path(written: str, dataset_file: Path) -> Path:
    """An image path as written in a dataset file -> where the image is."""
    path = Path(written).expanduser()
    return path if path.is_absolute() else (Path(dataset_file).resolve().parent / path)


def read_dataset(path: str | os.PathLike, check_files: bool = True) -> list[DatasetRecord]:
    """All records of a split, paths resolved; the first problem raises DatasetError."""
    records, problems = _read(Path(path), check_files, stop_at_first=True)
    if problems:
        raise problems[0]
    return records


def dataset_problems(path: str | os.PathLike, check_files: bool = True) -> tuple[int, list[DatasetError]]:
    """(rows read, every problem found) - for `zoomin dataset validate`."""
    records, problems = _read(Path(path), check_files, stop_at_first=False)
    return len(records) + len(problems), problems


def _read(path: Path, check_files: bool, stop_at_first: bool) -> tuple[list[DatasetRecord], list[DatasetError]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"dataset file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read dataset file {path}: {exc}") from None
    records: list[DatasetRecord] = []
    problems: list[DatasetError] = []
    duplicates = DuplicateChecker()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"not valid JSON ({exc.msg} at column {exc.colno})", number) from None
            record = record_from_dict(data, number)
            image = resolve_path(record.path, path)
            if check_files:
                check_file_exists(image, number)
            duplicates.check(record, number)
            records.append(replace(record, path=str(image)))
        except DatasetError as exc:
            problems.append(exc)
            if stop_at_first:
                break
    return records, problems


def _written_path(image: str, folder: Path) -> str:
    """Relative to the dataset's folder when the image lies under it, else absolute."""
    absolute = Path(image).expanduser().resolve()
    try:
        return absolute.relative_to(folder).as_posix()
    except ValueError:
        return str(absolute)


def write_dataset(path: str | os.PathLike, records: Iterable[DatasetRecord]) -> int:
    """Write a whole split (checked first: a bad record writes nothing). Returns the row count."""
    path = Path(path)
    rows = _rows(records, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(rows), encoding="utf-8")
    os.replace(temporary, path)  # readers never see half a file
    return len(rows)


def append_records(path: str | os.PathLike, records: Iterable[DatasetRecord]) -> int:
    """Append rows (the annotator's way to stay resumable: each image is saved when done)."""
    path = Path(path)
    rows = _rows(records, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(rows)
        handle.flush()
        os.fsync(handle.fileno())
    return len(rows)


def _rows(records: Iterable[DatasetRecord], path: Path) -> list[str]:
    folder = path.resolve().parent
    duplicates = DuplicateChecker()
    rows = []
    for index, record in enumerate(records, start=1):
        check_record(record, index)
        duplicates.check(record, index)
        rows.append(json.dumps(record_to_dict(record, _written_path(record.path, folder)), ensure_ascii=False) + "\n")
    return rows
