"""The case store as the newsroom's memory: "which stored images are near this one", the
back-fill of the hash index, and the per-case release of decisions as training data.
Reached as CaseStore.memory; each method is one transaction."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.image_input import ImageInputError, load_image
from models.similarity.hashes import ORB, PDQ, ImageHash, PictureHashes, hamming, image_hashes, picture_hashes
from models.similarity.matching import (
    MIN_VOTES,
    SAME_FRAMING_PDQ,
    keypoint_matches,
    keypoint_transform,
    padded_words,
    padding_share,
    pdq_matches,
    pdq_transform,
    plausible_copy,
    same_framing,
    shortlist,
)
from storage import cases, hash_lists, similarity
from storage.audit import load_case, record, require_analyst
from storage.blobs import BlobStore
from storage.database import Database
from storage.memory_records import SAME_FILE, NearMatch
from storage.records import CaseSummary
from storage.tables import CaseRow

TRAINING_ACTION = "training-release-changed"


# The last few pictures a lookup hashed, by SHA-256 and decoded size: the page asks "seen
# before?" and then stores the same upload, and hashing a 12 MP photo twice cost 0.15-0.3 s
# of every upload.  The same bytes decoded to the same size are the same pixels.
_RECENT_PICTURES = 4
_recent: OrderedDict[tuple[str, tuple[int, ...]], PictureHashes] = OrderedDict()
_recent_lock = threading.Lock()


def _recently_hashed(rgb: np.ndarray, sha256: str) -> PictureHashes | None:
    if not sha256:
        return None
    with _recent_lock:
        return _recent.get((sha256, tuple(rgb.shape)))


def _hashed(rgb: np.ndarray, sha256: str) -> PictureHashes:
    known = _recently_hashed(rgb, sha256)
    if known is not None:
        return known
    hashes = picture_hashes(rgb)
    if sha256:
        with _recent_lock:
            _recent[(sha256, tuple(rgb.shape))] = hashes
            while len(_recent) > _RECENT_PICTURES:
                _recent.popitem(last=False)
    return hashes


def hashes_for_intake(rgb: np.ndarray, sha256: str = "") -> list[ImageHash]:
    """The hashes stored with a new evidence file (those of a lookup of the same picture just
    before, where there was one); none for a picture they cannot be computed on (a 1-pixel
    image), which is then simply never found as a near-duplicate."""
    try:
        known = _recently_hashed(rgb, sha256)
        return known.stored if known is not None else image_hashes(rgb)
    except Exception:  # noqa: BLE001 - a hash is an aid; it never stops an intake
        return []


class CaseMemory:
    def __init__(self, db: Database, blobs: BlobStore):
        self._db = db
        self._blobs = blobs

    def near(self, rgb: np.ndarray, sha256: str = "") -> list[NearMatch]:
        """Stored images and shared-list entries near this picture, nearest first: exact copies
        (same SHA-256), whole-picture PDQ matches in any of its eight orientations, then
        keypoint matches (crops, frames)."""
        hashed = _hashed(rgb, sha256)
        dihedral = list(hashed.dihedral)
        size = (int(rgb.shape[1]), int(rgb.shape[0]))
        # Inside flat padding the picture is looked up as itself too: its own PDQ and corners
        # beside the whole copy's.  Both views, because a stored web thumbnail often has a flat
        # frame of its own: a crop of it keeps part of that frame, and its corners match the
        # whole view (the frame's corners included) where the trimmed view keeps too few.
        content = hashed.content
        content_dihedral = list(content.dihedral) if content else []
        views = [(list(hashed.corners), size, False)]
        if content:
            views.append((list(content.corners), content.size, True))
        padding = padding_share(size, content.size) if content else 0.0

        def look(session: Session) -> list[NearMatch]:
            exact = similarity.evidence_files_by_sha(session, sha256) if sha256 else []
            pdq_stored = similarity.candidates(session, PDQ, [h for _, h in dihedral + content_dihedral])
            by_pdq = pdq_matches(dihedral, pdq_stored)
            inside = {owner: match for owner, match in pdq_matches(content_dihedral, pdq_stored).items()
                      if owner not in by_pdq or match.distance < by_pdq[owner].distance}
            by_pdq.update(inside)
            # One shortlist for both views' keys, then every descriptor of the shortlisted
            # pictures: a stored corner found by the other view only adds one to choose from,
            # never a match by itself.
            votes = similarity.key_votes(session, ORB, [h.hex for view in views for h in view[0]], MIN_VOTES)
            stored_corners = similarity.rows_of_owners(session, ORB, shortlist(votes))
            by_corners = [(owner, match, view_size, padded) for corners, view_size, padded in views
                          for owner, match in keypoint_matches(corners, stored_corners).items()]
            files = {i for kind, i in [*by_pdq, *(owner for owner, *_ in by_corners)] if kind == "evidence"} | set(exact)
            images = similarity.stored_images(session, files)
            stored_pdq = similarity.pdq_of(session, [i for (kind, i), *_ in by_corners if kind == "evidence"])
            listed = similarity.listed_images(session, [i for kind, i in by_pdq if kind == "list"])
            found: dict[tuple[str, int], NearMatch] = {}
            for file_id in exact:
                found[("evidence", file_id)] = NearMatch(SAME_FILE, "sha256", 0, 0, image=images[file_id])
            for owner, match in sorted(by_pdq.items(), key=lambda item: item[1].distance):
                if owner in found:
                    continue
                image = images.get(owner[1]) if owner[0] == "evidence" else None
                stored_size = (image.width, image.height) if image else None
                padded = owner in inside
                transform = pdq_transform(match, content.size if padded else size, stored_size)
                if padded:
                    transform = f"{padded_words(padding)}, {transform}"
                found[owner] = NearMatch(transform, PDQ, match.distance, 0,
                                         image=image, listed=listed.get(owner[1]) if owner[0] == "list" else None)
            for owner, match, view_size, padded in sorted(by_corners, key=lambda item: -item[1].fit.inliers):
                if owner in found or owner[0] != "evidence":
                    continue
                image = images[owner[1]]
                if not plausible_copy(match, view_size, (image.width, image.height)):
                    continue  # the copy would be a sliver of the stored picture, or it a corner of the copy
                if same_framing(match, view_size, (image.width, image.height)) and min(
                        (hamming(h, stored_pdq.get(owner[1], "0" * 64)) for _, h in dihedral + content_dihedral),
                        default=256) > SAME_FRAMING_PDQ:
                    continue  # corners agree but the picture does not: shared artefacts, not a copy
                transform = keypoint_transform(match, view_size, (image.width, image.height))
                if padded:
                    transform = f"{padded_words(padding)}, {transform}"
                found[owner] = NearMatch(transform, ORB, None, match.fit.inliers, image=image)
            return list(found.values())

        return self._db.read(look)

    def reindex(self, on_file: Callable[[int, str], None] | None = None) -> tuple[int, list[str]]:
        """Compute the hashes of every evidence file stored before they existed (or whose
        hashes are missing); returns (files indexed, problems).  One file per transaction,
        so an interruption loses nothing done; a file that cannot be read is named, not fatal."""
        done, problems = 0, []
        for file_id, sha256 in self._db.read(similarity.unhashed_evidence):
            try:
                image = load_image(self._blobs.path_for(sha256).read_bytes(), name=sha256)
            except (OSError, ImageInputError) as exc:
                problems.append(f"evidence file {file_id}: cannot be read for hashing ({exc})")
                continue
            hashes = hashes_for_intake(image.rgb)
            if not hashes:
                problems.append(f"evidence file {file_id}: too small or flat to hash")
                continue
            self._db.write(lambda s, i=file_id, h=hashes: similarity.replace_evidence_hashes(s, i, h))
            done += 1
            if on_file is not None:
                on_file(file_id, sha256)
        return done, problems

    def set_training_allowed(self, case_id: int, analyst: str, allowed: bool, reason: str = "") -> CaseSummary:
        """Release the case's decisions as training data (or withdraw them), audited."""
        name = require_analyst(analyst)

        def change(session: Session) -> CaseSummary:
            case = load_case(session, case_id, for_update=True)
            if bool(case.training_allowed) != bool(allowed):
                after = {"training_allowed": bool(allowed), **({"reason": reason.strip()} if reason.strip() else {})}
                record(session, case, name, TRAINING_ACTION, f"case:{case_id}",
                       {"training_allowed": bool(case.training_allowed)}, after)
                case.training_allowed = bool(allowed)
            return cases.summary(session, case)

        return self._db.write(change)

    def export_hash_list(self, with_notes: bool = False) -> list[dict]:
        """PDQ hashes of the concluded cases' files with verdict and date (storage/hash_lists.py)."""
        return self._db.read(lambda s: hash_lists.export_rows(s, with_notes))

    def import_hash_list(self, data: bytes, file_name: str, source: str, analyst: str) -> int:
        """Another organisation's list, checked whole, then imported in one transaction; its
        entry count.  A bad line refuses the whole list (StoreError with line numbers)."""
        name = require_analyst(analyst)
        entries = hash_lists.parse_list(data, file_name)
        self._db.write(lambda s: hash_lists.import_list(s, entries, source, file_name, data, name))
        return len(entries)

    def training_allowed(self, case_id: int) -> bool:
        return self._db.read(lambda s: bool(load_case(s, case_id).training_allowed))

    def released_case_ids(self) -> list[int]:
        """Cases the analysts released as training data, oldest first."""
        return self._db.read(lambda s: list(s.scalars(
            select(CaseRow.id).where(CaseRow.training_allowed.is_(True)).order_by(CaseRow.id))))
