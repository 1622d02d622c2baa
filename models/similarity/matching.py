"""From index candidates to decisions: which stored pictures are near the one looked up,
how near, and what the copy likely went through.  Pure functions over hashes; the store
fetches the candidates (storage/similarity.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.similarity.geometry import Fit, covered_fractions, fit_scale_shift
from models.similarity.hashes import DIHEDRAL, ImageHash, hamming

# Meta's suggested PDQ match threshold; among 625 unrelated dev images the closest pair differs by 76 bits.
PDQ_THRESHOLD = 31
# Two ORB descriptors of one corner differ by fewer bits than this (OpenCV's usual cut is 64 of 256).
DESCRIPTOR_THRESHOLD = 36
# Corners that must agree on one scale-and-shift before a keypoint match is believed.  Measured
# on 60 stored dev pictures (benchmarks/bench_memory.py): true crops up to 20 % kept 20 or more,
# screenshot-like frames 19 or more, while corners shared by unrelated web thumbnails (GAN and
# semantic-map pictures of the same kinds of scene) agreed in 12 to 17; 12 let 29 of 420
# transformed copies match another case as well.
MIN_INLIERS = 16
# A copy shows at least this share of the stored picture (a heavy crop keeping 60 % of each side
# shows 36 %), and the stored picture fills at least this share of the copy (a screenshot frame
# adding 30 % across and 45 % down leaves it 53 %): a fit mapping the copy into a sliver of the
# stored picture, or the stored picture into a corner of the copy, was every other false match.
MIN_SHOWN = 0.3
MIN_OWN = 0.4
# ... spread over at least this much of the picture (fraction of its longer side).
MIN_SPREAD = 0.2
# Stored pictures with at least MIN_VOTES descriptors sharing a telling key with the looked-up
# picture's, at most SHORTLIST of them (the most such descriptors first), get a full keypoint
# match (shortlist).  From the 1M lookup bench (benchmarks/bench_memory.py --fill pictures):
# the original ranked first for all 60 JPEG and cropped copies; each picture verified costs
# ~0.75 ms, and 16 of them were half of an unrelated picture's lookup.  A picture stored in more
# than 8 cases is still found in all of them by PDQ where the copy keeps its framing.
MIN_VOTES = 3
SHORTLIST = 8
# ... and at least this share of the best one's weight: a re-compressed copy shares ~45 telling
# descriptors with its original, an unrelated picture at a million stored descriptors 4 to 7,
# so a clear copy is matched alone, while a crop (5 to 21) still has others matched beside it.
SHORTLIST_SHARE = 0.25
# The quick screen before the full fit (keypoint_matches).
SCREEN_HYPOTHESES = 60
SCREEN_INLIERS = MIN_INLIERS // 2
# Coverage this close to 1 is the same framing (keypoint positions are approximate).
FRAME_SLACK = 0.04
# A keypoint match that keeps the framing must keep PDQ this close too: a real same-framed copy
# does (captions move it up to ~50 bits), corners shared by unrelated web thumbnails do not.
SAME_FRAMING_PDQ = 70
# PDQ distance up to which a same-size copy is only re-compressed (JPEG q50 moves it about 4 bits).
RECOMPRESSED = 10

Owner = tuple[str, int]  # ("evidence", id) or ("list", id)


@dataclass(frozen=True)
class HashMatch:
    owner: Owner
    distance: int
    orientation: str


@dataclass(frozen=True)
class KeyVotes:
    """How a stored picture's descriptors share telling keys with a looked-up picture's: how
    many of them share one, and the weight of those shared keys, each 1 / the number of
    stored descriptors carrying it (a key only this picture has weighs 1, a key 40 pictures
    share 1/40: the inverse document frequency of text retrieval)."""

    descriptors: int
    weight: float


@dataclass(frozen=True)
class KeypointMatch:
    owner: Owner
    fit: Fit


def owner_of(candidate) -> Owner:
    if candidate.evidence_file_id is not None:
        return ("evidence", candidate.evidence_file_id)
    return ("list", candidate.list_entry_id)


def pdq_matches(dihedral: Sequence[tuple[str, str]], candidates: Sequence, threshold: int = PDQ_THRESHOLD
                ) -> dict[Owner, HashMatch]:
    """The nearest orientation of the looked-up picture for every stored hash within `threshold`."""
    best: dict[Owner, HashMatch] = {}
    for candidate in candidates:
        for orientation, query in dihedral:
            distance = hamming(query, candidate.hex)
            owner = owner_of(candidate)
            if distance <= threshold and (owner not in best or distance < best[owner].distance):
                best[owner] = HashMatch(owner, distance, orientation)
    return best


def shortlist(votes: dict[Owner, KeyVotes], most: int = SHORTLIST) -> list[Owner]:
    """The stored pictures worth a full keypoint match, from how each one's descriptors share
    telling keys with the query (storage.similarity.key_votes; the index's stop list leaves
    only telling keys): at least MIN_VOTES descriptors and SHORTLIST_SHARE of the best one's
    weight, the `most` of the greatest weight.  Their descriptors are then all compared with the
    query's, nearest first, as a retrieval system verifies its shortlist (keys shortlist,
    descriptors and geometry decide)."""
    best = max((v.weight for v in votes.values()), default=0.0)
    kept = [o for o, v in votes.items() if v.descriptors >= MIN_VOTES and v.weight >= best * SHORTLIST_SHARE]
    return sorted(kept, key=lambda o: (-votes[o].weight, o))[:most]


def keypoint_matches(query: Sequence[ImageHash], candidates: Sequence,
                     threshold: int = DESCRIPTOR_THRESHOLD) -> dict[Owner, KeypointMatch]:
    """Stored pictures whose corners match at least MIN_INLIERS of the query's on one geometry."""
    if not query or not candidates:
        return {}
    query_words = _words([h.hex for h in query])
    query_points = np.array([(h.key_x, h.key_y) for h in query], dtype=float)
    by_owner: dict[Owner, list] = {}
    for candidate in candidates:
        if candidate.key_x is not None:
            by_owner.setdefault(owner_of(candidate), []).append(candidate)
    found: dict[Owner, KeypointMatch] = {}
    for owner, stored in by_owner.items():
        if len(stored) < MIN_INLIERS:
            continue
        distances = np.bitwise_count(query_words[:, None, :] ^ _words([s.hex for s in stored])[None, :, :]).sum(
            axis=2, dtype=np.int32)
        # Each query corner keeps its nearest stored corner only (Lowe-style, without the ratio).
        nearest = distances.argmin(axis=1)
        query_ids = np.nonzero(distances[np.arange(len(query)), nearest] <= threshold)[0]
        if len(query_ids) < MIN_INLIERS:
            continue
        stored_ids = nearest[query_ids]
        stored_points = np.array([(stored[i].key_x, stored[i].key_y) for i in stored_ids], dtype=float)
        # A quick screen first: in a real store most pictures that reach this point share only
        # generic corners (a thumbnail's white frame, JPEG blocks) and agree in ~5 (at most 15;
        # 1,356 of 1,384 fits in the 1M bench), while a copy's agreeing corners are found by a few
        # dozen random pairs: a pair of agreeing matches is drawn with p = (agreeing / matches)^2
        # per try, so 60 tries miss a copy at the rule's edge (16 of 64) with p ~ 0.02 and one
        # with 24 of 64 with p < 1e-3.  The full fit was ~80 % of a lookup's matching time.
        screen = fit_scale_shift(query_points[query_ids], stored_points, query_ids, hypotheses=SCREEN_HYPOTHESES)
        if screen is None or screen.inliers < SCREEN_INLIERS:
            continue
        fit = fit_scale_shift(query_points[query_ids], stored_points, query_ids)
        if fit is not None and fit.inliers >= MIN_INLIERS and fit.spread >= MIN_SPREAD:
            found[owner] = KeypointMatch(owner, fit)
    return found


def _words(hexes: list[str]) -> np.ndarray:
    """256-bit hashes as rows of four 64-bit words, for Hamming distances by popcount."""
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=">u8").reshape(len(hexes), 4).astype(np.uint64)


def plausible_copy(match: KeypointMatch, query_size: tuple[int, int], stored_size: tuple[int, int]) -> bool:
    """Whether the geometry is one a crop, resize or frame gives (MIN_SHOWN, MIN_OWN)."""
    shown, own = covered_fractions(match.fit, query_size, stored_size)
    return shown >= MIN_SHOWN and own >= MIN_OWN


def same_framing(match: KeypointMatch, query_size: tuple[int, int], stored_size: tuple[int, int]) -> bool:
    shown, own = covered_fractions(match.fit, query_size, stored_size)
    return shown >= 1 - 2 * FRAME_SLACK and own >= 1 - 2 * FRAME_SLACK


def pdq_transform(match: HashMatch, query_size: tuple[int, int], stored_size: tuple[int, int] | None) -> str:
    """Plain words for a whole-picture match."""
    words = []
    if match.orientation != DIHEDRAL[0]:
        words.append(match.orientation)
    if stored_size is not None and _resized(query_size, stored_size, match.orientation):
        words.append(f"resized ({stored_size[0]}x{stored_size[1]} to {query_size[0]}x{query_size[1]})")
    if match.distance > RECOMPRESSED:
        words.append(f"re-encoded or lightly edited ({match.distance} of 256 bits differ)")
    elif not words:
        words.append(f"re-compressed ({match.distance} of 256 bits differ)")
    return ", ".join(words)


def keypoint_transform(match: KeypointMatch, query_size: tuple[int, int], stored_size: tuple[int, int]) -> str:
    """Plain words for a keypoint match: a crop, a frame (screenshot-like padding) or both."""
    shown, own = covered_fractions(match.fit, query_size, stored_size)
    words = []
    if shown < 1 - FRAME_SLACK:
        words.append(f"cropped (about {shown:.0%} of the stored picture kept)")
    if own < 1 - FRAME_SLACK:
        words.append(f"framed or padded (the stored picture is about {own:.0%} of it, as in a screenshot)")
    if not words:
        words.append("resized or re-compressed, same framing")
    return ", ".join(words) + f"; {match.fit.inliers} corners agree"


def padding_share(size: tuple[int, int], content_size: tuple[int, int]) -> float:
    """How much of a copy is flat padding around the picture (hashes.content_box)."""
    return 1 - (content_size[0] * content_size[1]) / max(1, size[0] * size[1])


def padded_words(share: float) -> str:
    # A caption bar is a flat band too (its text is a few per cent of each line).
    return f"padded or captioned like a screenshot (flat bands, about {share:.0%} of the copy, set aside)"


def _resized(query_size: tuple[int, int], stored_size: tuple[int, int], orientation: str) -> bool:
    turned = orientation in (DIHEDRAL[1], DIHEDRAL[3], DIHEDRAL[6], DIHEDRAL[7])
    expected = (stored_size[1], stored_size[0]) if turned else stored_size
    return tuple(query_size) != tuple(expected)
