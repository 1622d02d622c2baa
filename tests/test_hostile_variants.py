"""Every file `benchmarks/measure_hostile_inputs.py` makes, made here from a photo this test
synthesises: each is analysed by the full evidence engine or refused by the reader with its own
error; nothing escapes the engine (a textured JPEG at quality 30 once did, as `internal`)."""

from __future__ import annotations

from PIL import Image

from benchmarks.measure_hostile_inputs import oddities, variants
from models.evidence.engine import EvidenceEngine
from models.image_input import ImageInputError, load_image
from tests import hostile_files as hostile


def test_no_delivered_or_odd_file_breaks_the_analysis():
    source = Image.fromarray(hostile.photo(768, 512, seed=3))
    engine = EvidenceEngine()
    analysed, refused = [], {}
    for name, data in [*variants(source), *oddities(source)]:
        try:
            image = load_image(data, name=name)
        except ImageInputError as exc:
            refused[name] = exc.code
            continue
        analysis = engine.analyze(image)  # an exception here fails the test, naming the file
        assert analysis.verdict in ("ai-generated", "real", "inconclusive"), name
        analysed.append(name)
    assert refused == {"JPEG cut short": "truncated", "empty file": "empty", "random bytes": "not-an-image",
                       "text": "not-an-image", "SVG": "not-an-image", "PNG header 100000x100000": "too-large",
                       "108 MP JPEG": "too-large"}
    assert {"JPEG q1", "JPEG q30", "CMYK JPEG", "PNG I;16", "1x1", "48-bit PNG", "animated GIF"} <= set(analysed)
