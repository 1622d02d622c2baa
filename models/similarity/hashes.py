"""Perceptual hashes of a picture, for telling that an image was seen before.

Two kinds, both 256 bits so one banded index holds them (storage/similarity.py):
- PDQ (Meta's hash for sharing lists of known images) of the whole picture.  It survives
  re-compression, resizing and small overlays, and its eight dihedral variants
  (rotations, mirror) come from one computation, but it does not survive a crop or a
  frame: 10 % cut from one side moves it about as far as an unrelated image.
- ORB keypoint descriptors (OpenCV) of the strongest corners, each with its position.  A
  cropped, padded or screenshotted copy keeps most of those corners, and matched corners
  must agree on one scale-and-shift (models/similarity/geometry.py), which unrelated
  pictures do not.  Several PDQ hashes of sub-windows were tried first and rejected:
  PDQ tolerates only a few per cent of shift, so covering crops up to 20 % at any
  position needs hundreds of windows per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pdqhash

PDQ = "pdq"
ORB = "orb"
FULL = "full"
KEYPOINT = "kp"
HASH_BITS = 256
BAND_BITS = 16
# PDQ below this quality comes from a near-flat picture, whose hash says little (Meta's advice).
MIN_PDQ_QUALITY = 50
KEYPOINTS = 64
# Pictures are brought to this longer side before keypoints are found, so the same
# corners come out whatever size the copy is.
KEYPOINT_SIDE = 512
# The dihedral variants in pdqhash.compute_dihedral's order: what was done to the stored
# picture to give the one looked up.
DIHEDRAL = ("same orientation", "rotated 90° anticlockwise", "rotated 180°", "rotated 90° clockwise",
            "flipped upside down", "mirrored", "transposed", "transposed the other way")


@dataclass(frozen=True)
class ImageHash:
    """One 256-bit perceptual hash (64 hex digits) and, for a keypoint, where it lies
    (fractions of the picture's longer side)."""

    algorithm: str
    window: str
    hex: str
    quality: int
    key_x: float | None = None
    key_y: float | None = None

    def __post_init__(self) -> None:
        if len(self.hex) != HASH_BITS // 4 or any(c not in "0123456789abcdef" for c in self.hex):
            raise ValueError(f"a perceptual hash is {HASH_BITS // 4} lower-case hex digits, not {self.hex!r}")


def bits_to_hex(bits: np.ndarray) -> str:
    packed = np.packbits(np.asarray(bits, dtype=bool).reshape(-1)[:HASH_BITS])
    return packed.tobytes().hex()


def hex_to_int(hex_digits: str) -> int:
    return int(hex_digits, 16)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bands(hex_digits: str) -> tuple[int, ...]:
    """The hash cut into 16-bit bands, most significant first."""
    return tuple(int(hex_digits[i:i + BAND_BITS // 4], 16) for i in range(0, HASH_BITS // 4, BAND_BITS // 4))


# PDQ reduces every picture to 64x64 before it hashes; handing it a copy already brought to
# this longer side (area average) gives the same hash at a fraction of the cost: 12 MP
# took ~0.3 s per hash and ~0.8 s for the eight dihedral ones, on every intake.
PDQ_SIDE = 512


def _pdq_input(rgb: np.ndarray) -> np.ndarray:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    scale = PDQ_SIDE / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def pdq_hash(rgb: np.ndarray) -> ImageHash:
    vector, quality = pdqhash.compute(_pdq_input(rgb))
    return ImageHash(PDQ, FULL, bits_to_hex(vector), int(quality))


def keypoint_hashes(rgb: np.ndarray, limit: int = KEYPOINTS) -> list[ImageHash]:
    """ORB descriptors of the `limit` strongest corners, on a grey copy brought to KEYPOINT_SIDE."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    scale = KEYPOINT_SIDE / max(grey.shape)
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # A light blur first: JPEG's 8x8 blocks are corners too, at the same places in every
    # re-compressed thumbnail, and made unrelated web images agree.
    grey = cv2.GaussianBlur(grey, (0, 0), 1.5)
    orb = cv2.ORB_create(nfeatures=limit * 4, scaleFactor=1.3, nlevels=6, edgeThreshold=15, patchSize=15)
    keypoints, descriptors = orb.detectAndCompute(grey, None)
    if descriptors is None:
        return []
    longer = float(max(grey.shape))
    strongest = _spread(keypoints, grey.shape, limit)
    return [ImageHash(ORB, KEYPOINT, descriptors[i].tobytes().hex(), int(min(100, keypoints[i].response * 1e4)),
                      round(keypoints[i].pt[0] / longer, 5), round(keypoints[i].pt[1] / longer, 5))
            for i in strongest]


def _spread(keypoints, shape: tuple[int, ...], limit: int) -> list[int]:
    """The strongest corners: half the slots spread over a 4x4 grid (limit/32 per cell), the
    rest the strongest anywhere.  A caption or logo full of sharp corners then cannot take
    every slot, and a framed copy still shares the strongest corners of the picture."""
    by_strength = sorted(range(len(keypoints)), key=lambda i: -keypoints[i].response)
    per_cell, taken, chosen = max(1, limit // 32), {}, []
    for i in by_strength:
        x, y = keypoints[i].pt
        cell = (min(3, int(4 * y / shape[0])), min(3, int(4 * x / shape[1])))
        if taken.get(cell, 0) < per_cell:
            taken[cell] = taken.get(cell, 0) + 1
            chosen.append(i)
    rest = [i for i in by_strength if i not in set(chosen)]
    return (chosen + rest)[:limit]


def image_hashes(rgb: np.ndarray) -> list[ImageHash]:
    """Everything stored for one picture: its PDQ hash and its keypoint descriptors."""
    return [pdq_hash(rgb), *keypoint_hashes(rgb)]


# Padding: an edge band is flat where at least FLAT_SHARE of each of its rows (or columns)
# lies within FLAT_TOLERANCE grey levels of the edge's own colour (JPEG q75 leaves flat
# bands within a few levels, except beside the picture's border); bands thinner than
# MIN_PADDING of the side are left alone (a photo's own dark rim), and so is a picture
# whose content would be under MIN_CONTENT of a side (a mostly flat graphic).
PADDING_SIDE = 256
FLAT_TOLERANCE = 10
FLAT_SHARE = 0.98
MIN_PADDING = 0.02
MIN_CONTENT = 0.3


def content_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the picture inside flat screenshot-like padding, in the
    pixels of `rgb`; None where no edge has a flat band.  A screenshot of a post frames the
    picture with flat bars; measured against the whole copy the picture's share shrinks
    and its keypoints lose slots to the bars' edges, measured inside them it is the picture."""
    height, width = rgb.shape[:2]
    scale = min(1.0, PADDING_SIDE / max(height, width))
    small = np.ascontiguousarray(rgb, dtype=np.uint8)
    if scale < 1:
        small = cv2.resize(small, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.int16)
    rows, columns = grey.shape
    if rows < 8 or columns < 8:
        return None

    def flat_run(lines: np.ndarray) -> int:
        """How many of `lines` (first = the outermost) are flat in the outermost one's colour."""
        reference = int(np.median(lines[0]))
        flat = (np.abs(lines - reference) <= FLAT_TOLERANCE).mean(axis=1) >= FLAT_SHARE
        return len(flat) if flat.all() else int(np.argmin(flat))

    top, bottom = flat_run(grey), flat_run(grey[::-1])
    left, right = flat_run(grey.T), flat_run(grey.T[::-1])
    cuts = [cut if cut >= MIN_PADDING * side else 0
            for cut, side in ((left, columns), (top, rows), (right, columns), (bottom, rows))]
    left, top, right, bottom = cuts
    if not any(cuts) or columns - left - right < MIN_CONTENT * columns or rows - top - bottom < MIN_CONTENT * rows:
        return None
    # Back to full resolution; the area-averaged line at the boundary is not flat, so the box
    # keeps at most one small pixel of padding.
    return (round(left / scale), round(top / scale), width - round(right / scale), height - round(bottom / scale))


@dataclass(frozen=True)
class Content:
    """The picture inside flat padding (content_box) and its hashes, as a lookup uses them."""

    box: tuple[int, int, int, int]
    dihedral: tuple[tuple[str, str], ...]
    corners: tuple[ImageHash, ...]

    @property
    def size(self) -> tuple[int, int]:
        return (self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class PictureHashes:
    """One computation of everything a lookup and an intake need: the eight dihedral PDQ
    hashes (the first is the picture as it is), their quality, the keypoints, and where the
    picture sits in flat padding, the same of the picture inside it (`content`)."""

    dihedral: tuple[tuple[str, str], ...]  # (what was done to the original, hash hex), DIHEDRAL's order
    quality: int
    corners: tuple[ImageHash, ...]
    content: Content | None = None

    @property
    def stored(self) -> list[ImageHash]:
        """What image_hashes gives for the same picture (what an intake stores)."""
        return [ImageHash(PDQ, FULL, self.dihedral[0][1], self.quality), *self.corners]


def _dihedral(rgb: np.ndarray) -> tuple[tuple[tuple[str, str], ...], int]:
    vectors, quality = pdqhash.compute_dihedral(_pdq_input(rgb))
    return tuple((name, bits_to_hex(np.asarray(vector))) for name, vector in zip(DIHEDRAL, vectors)), int(quality)


def picture_hashes(rgb: np.ndarray) -> PictureHashes:
    dihedral, quality = _dihedral(rgb)
    box = content_box(rgb)
    content = None
    if box is not None:
        inside = rgb[box[1]:box[3], box[0]:box[2]]
        content = Content(box, _dihedral(inside)[0], tuple(keypoint_hashes(inside)))
    return PictureHashes(dihedral, quality, tuple(keypoint_hashes(rgb)), content)
