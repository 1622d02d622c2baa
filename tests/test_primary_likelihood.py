"""The likelihood model of a JPEG file's primary quantisation (models/evidence/maps/primary_likelihood):
a photo first saved at q75 and re-saved a little above, at q80 or q85, leaves no bin empty, yet
its first quality is recovered and the patch pasted in before the re-save is boxed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.evidence.maps import measure_local_maps
from models.evidence.maps.base import whole_image_luma_dct
from models.evidence.maps.jpeg_tables import HISTOGRAM_RANGE, LOW_FREQUENCIES, quality_table
from models.evidence.maps.primary_likelihood import (
    MIN_TABLE_EVIDENCE, chosen_steps, first_quality, requantised, step_fits)
from models.image_input import load_image
from tests.test_local_maps import PATCH, boxed, channel_boxes, decoded, jpeg, paste, scene


def textured_photo(seed: int = 6) -> np.ndarray:
    """The synthetic scene with strong sensor noise: enough nonzero coefficients per block that a
    step ratio of 5:4 shows block by block (the smooth fixture's blocks cast too few votes)."""
    rng = np.random.default_rng(seed)
    return np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 8.0, 0, 255).astype(np.uint8)


def fits_of(data: bytes) -> dict:
    image = load_image(data)
    table = np.array(image.jpeg_quantization[0], np.float32).reshape(8, 8)
    stored, off_grid = whole_image_luma_dct(image.rgb), whole_image_luma_dct(image.rgb, offset=4)
    return {(u, v): step_fits(np.rint(stored[..., u, v] / table[u, v]).astype(np.int64), off_grid[..., u, v],
                              int(table[u, v]))
            for u, v in LOW_FREQUENCIES if table[u, v] >= 2}


def test_requantising_moves_each_earlier_value_to_at_most_two_stored_values():
    """Each row is a probability over k (1 where its values lie in range); a step that is a multiple
    of the stored one lands exactly, and m q1 / q2 on a half splits evenly between neighbours."""
    first, matrix = requantised(6, 4)
    inside = np.abs((np.arange(matrix.shape[0]) + first) * 6 / 4) <= HISTOGRAM_RANGE - 1
    assert np.allclose(matrix.sum(axis=1)[inside], 1.0) and (matrix.sum(axis=1) <= 1.0 + 1e-9).all()
    assert ((matrix > 1e-6).sum(axis=1) <= 2).all()
    row = matrix[1 - first]  # m = 1: 6 / 4 = 1.5, a half
    assert row[HISTOGRAM_RANGE + 1] == pytest.approx(0.5) and row[HISTOGRAM_RANGE + 2] == pytest.approx(0.5)
    first, matrix = requantised(8, 4)
    assert matrix[3 - first, HISTOGRAM_RANGE + 6] == pytest.approx(1.0)  # m = 3: 24 / 4 = 6 exactly


@pytest.mark.parametrize("resave", [80, 85, 90])
def test_the_first_quality_of_a_resaved_photo_is_recovered(resave):
    data = jpeg(decoded(jpeg(textured_photo(), 75)), resave)
    found = first_quality(fits_of(data))
    assert found is not None and found[0] == 75 and found[1] >= MIN_TABLE_EVIDENCE


@pytest.mark.parametrize("data", [
    pytest.param(lambda: jpeg(textured_photo(), 80), id="saved once"),
    pytest.param(lambda: jpeg(decoded(jpeg(textured_photo(), 95)), 80), id="finer first")])
def test_no_first_quality_without_a_coarser_first_compression(data):
    fits = fits_of(data())
    assert first_quality(fits) is None
    assert len(chosen_steps(fits)) < 2  # so the channel does not exist
    image = load_image(data())
    jpeg_map = next(m for m in measure_local_maps(image) if m.name == "jpeg-traces")
    assert "primary quantisation" not in jpeg_map.channels


def test_a_cameras_own_first_table_is_followed_frequency_by_frequency():
    """A first table that is no libjpeg quality (q70's with four low steps changed): each changed
    frequency takes its own best step, the rest the closest quality's."""
    custom = quality_table(70).copy()
    custom[0, 1] += 3
    custom[1, 0] += 2
    custom[1, 1] += 4
    custom[2, 0] -= 2
    buffer = io.BytesIO()
    Image.fromarray(textured_photo()).save(buffer, "JPEG", qtables=[[int(v) for v in custom.ravel()]] * 2)
    steps = chosen_steps(fits_of(jpeg(decoded(buffer.getvalue()), 90)))
    assert len(steps) >= 15
    assert all(fitted.step == int(custom[u, v]) for (u, v), fitted in steps.items())


@pytest.mark.parametrize("resave", [80, 85])
def test_a_patch_pasted_into_a_q75_photo_resaved_a_little_above_is_boxed(resave):
    """q75 then q80: steps 6 -> 4 and 5 -> 4 leave every bin reachable (no empty-bin test sees
    them), yet the patch, compressed once, lacks the first quality's pattern."""
    photo = textured_photo()
    first = decoded(jpeg(photo, 75))
    spliced, untouched = jpeg(paste(first, photo), resave), jpeg(first, resave)
    assert boxed(channel_boxes(spliced, "jpeg-traces", "primary quantisation"), PATCH)
    assert channel_boxes(untouched, "jpeg-traces", "primary quantisation") == []
