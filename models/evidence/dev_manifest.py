"""The labelled-manifest format shared by signal-model training and scan calibration.

A manifest is a CSV with at least the columns file, label, source_repo, license
and dup_group (relative paths resolve against the CSV's folder).  This module
holds that format (REQUIRED_COLUMNS, LABELS), the licence allow-list that
decides which rows may be trained or calibrated on (LICENCE_ALLOW_LIST,
LICENCE_REFUSED, training_licence), one row (ManifestEntry) and the reader
(read_manifest).  Used by models.evidence.train_signal and
models.evidence.scan_calibration.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

# --- which sources may be trained on ------------------------------------------------
# Rule: a licence that names a non-commercial or research-only restriction, or
# no licence at all, is refused first; otherwise the licence text must START
# with one of the allowed families.  Anything unrecognised is refused (default
# deny), so a new source has to be looked at and added here by a person.
LICENCE_REFUSED = re.compile(r"\bNC\b|-NC\b|-NC-|non-?commercial|no licen[cs]e|research[- ]use|all rights reserved",
                             re.IGNORECASE)
LICENCE_ALLOW_LIST: tuple[tuple[str, str], ...] = (
    (r"CreativeML OpenRAIL", "CreativeML OpenRAIL-M/++-M (use-based restrictions, commercial use allowed)"),
    (r"MIT\b", "MIT"),
    (r"Apache-2\.0", "Apache-2.0"),
    (r"0BSD", "0BSD-style permissive"),
    (r"BSD-[23]-Clause", "BSD"),
    (r"CC-BY-SA-", "CC-BY-SA (attribution, share-alike)"),
    (r"CC-BY-[0-9]", "CC-BY (attribution)"),
    (r"CC0|public domain", "public domain"),
    (r"Kodak PhotoCD images: released by Eastman Kodak for unrestricted use", "Kodak, unrestricted use"),
    (r"released for training by the newsroom", "the newsroom's own case, released by its analyst"),
)
REQUIRED_COLUMNS = ("file", "label", "source_repo", "license", "dup_group")
LABELS = {"fake": 1, "ai": 1, "ai-generated": 1, "real": 0}


def training_licence(licence: str) -> str | None:
    """The allow-list family that admits `licence` for training, or None."""
    if LICENCE_REFUSED.search(licence):
        return None
    for pattern, family in LICENCE_ALLOW_LIST:
        if re.match(pattern, licence.strip(), re.IGNORECASE):
            return family
    return None


@dataclass(frozen=True)
class ManifestEntry:
    path: Path
    label: int                # 1 = AI-generated
    generator: str
    source: str
    licence: str
    group: str

    @property
    def trainable(self) -> bool:
        return training_licence(self.licence) is not None


def read_manifest(manifest: Path) -> list[ManifestEntry]:
    manifest = Path(manifest)
    if manifest.suffix.lower() == ".jsonl":  # a dataset from `zoomin dataset from-cases`, beside a CSV manifest
        from models.dataset.from_cases import manifest_entries

        return manifest_entries(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read manifest {manifest}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"manifest {manifest} lacks column(s) {', '.join(missing)}")
    entries = []
    for line, row in enumerate(reader, start=2):
        label = LABELS.get(row["label"].strip().lower())
        if label is None:
            raise ValueError(f"{manifest}:{line}: label must be real or fake, got {row['label']!r}")
        path = Path(row["file"])
        entries.append(ManifestEntry(
            path=path if path.is_absolute() else manifest.parent / path, label=label,
            generator=(row.get("generator") or "").strip() or ("unknown" if label else "real"),
            source=row["source_repo"].strip(), licence=row["license"].strip(), group=row["dup_group"].strip()))
    if not entries:
        raise ValueError(f"manifest {manifest} lists no images")
    return entries
