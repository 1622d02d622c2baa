"""A tiny labelled dataset for the training tests: a few small procedural
images (real, and fake with a resampled patch in an annotated box),
written as a JSON Lines split with the project's own writer."""

from __future__ import annotations

import hashlib
from pathlib import Path

from models.dataset.jsonl import write_dataset
from models.dataset.records import AnnotatedBox, Annotator, DatasetRecord
from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Box

WIDTH, HEIGHT = 112, 84
FAKE_BOXES = (Box(10, 8, 50, 44), Box(60, 30, 104, 76))


def make_dataset(folder: Path, count: int = 2) -> Path:
    """`count` real and `count` fake PNG images and their dataset.jsonl in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(2 * count):
        fake = index % 2 == 1
        rgb = camera_like_photo(HEIGHT, WIDTH, seed=index)
        boxes: tuple[AnnotatedBox, ...] = ()
        if fake:
            for box in FAKE_BOXES:
                rgb = paste_resampled_patch(rgb, box)
            boxes = (AnnotatedBox(FAKE_BOXES[0], "smeared texture, upscaled patch"),
                     AnnotatedBox(FAKE_BOXES[1], "blurred edges around the object"))
        data = encode(rgb, "PNG")
        name = f"{'fake' if fake else 'real'}-{index}.png"
        (folder / name).write_bytes(data)
        records.append(DatasetRecord(
            path=str(folder / name), sha256=hashlib.sha256(data).hexdigest(), label="fake" if fake else "real",
            width=WIDTH, height=HEIGHT, generator="test-generator" if fake else "", boxes=boxes,
            explanation="The patches are smoother than the sensor noise around them." if fake else "",
            annotator=Annotator("hand", "v1", "human")))
    path = folder / "dataset.jsonl"
    write_dataset(path, records)
    return path
