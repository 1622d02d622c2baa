"""Fuzzing `zoomin analyze --json` with mutated and hostile files (issue 12).

From seed files this test makes (JPEG with EXIF, PNG with generator text and
XMP, WebP, TIFF, animated GIF, BMP, a JPEG carrying a C2PA-like JUMBF box), a
seeded generator writes byte flips, truncations, header corruption, odd EXIF
entries, hostile PNG text chunks, XMP packets and JUMBF boxes.  Every file
must come out of the same path as `zoomin analyze --json` as one strict JSON
line, a verdict or an error object, never `internal` and never a traceback;
a real process run of a small batch checks what reaches stdout and stderr.
Bounded: a fixed seed and count (707 files, about 30 s on two idle cores).
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests import hostile_files as hostile
from tests.hostile_files import strict_lines, zoomin
from zoomin_ui.cli import main

SEED = 12
MUTANTS_PER_KIND = 100


def _encoded(fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(hostile.photo(seed=len(fmt))).save(buffer, fmt, **options)
    return buffer.getvalue()


def seed_files() -> dict[str, bytes]:
    rgb = hostile.photo()
    camera = Image.Exif()
    camera.update({0x010F: "Canon", 0x0110: "Canon EOS R5", 0x0131: "Adobe Photoshop 25.0", 0x0112: 6})
    frames = [Image.fromarray(hostile.photo(seed=s)) for s in (1, 2)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=50)
    pages = io.BytesIO()
    frames[0].save(pages, "TIFF", save_all=True, append_images=frames[1:])
    xmp = hostile.xmp_packet('<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
                             'xmp:CreatorTool="Adobe Firefly"/>')
    return {
        "jpg": hostile.jpeg(rgb, exif=camera.tobytes()),
        "png": hostile.png_with_chunks(rgb, [
            hostile.text_chunk("parameters", "a harbour fire\nSteps: 20, Sampler: Euler a, Seed: 7, Model: sdxl"),
            hostile.text_chunk("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}}}'),
            hostile.itxt_chunk("XML:com.adobe.xmp", xmp)]),
        "webp": _encoded("WEBP", quality=80),
        "tif": pages.getvalue(),
        "gif": gif.getvalue(),
        "bmp": _encoded("BMP"),
        "c2pa.jpg": hostile.with_segment(hostile.jpeg(rgb), hostile.app_segment(0xEB, hostile.jumbf_payload())),
    }


# ------------------------------------------------------------------ mutations of any file's bytes


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randint(1, len(data) - 1)]


def corrupt_header(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    start = rng.randrange(min(48, len(out)))
    for index in range(start, min(len(out), start + rng.randint(1, 16))):
        out[index] = rng.choice((0x00, 0xFF, 0x7F, rng.randrange(256)))
    return bytes(out)


# ------------------------------------------------------------------ hostile content, built whole

_HOSTILE_TEXT = [
    hostile.SURROGATE_PROMPT, hostile.NAN_PROMPT, hostile.NAN_PARAMETERS,
    '{"a": "\\ud800\\udc00\\udfff", "b": "\\udbff"}', "[" * 100_000, '{"3": ' * 5_000,
    "Steps: 20\x1b]0;owned\x07, Sampler: \u202eEuler\r, Seed: 1", "x" * 900_000,
    '{"nodes": [{"type": "KSampler", "widgets_values": [NaN, Infinity, "\\ud800"]}]}',
    "Negative prompt: " + "\\" * 10_000, "\x00" * 100, "Job ID: " + "0" * 40,
]
_TEXT_KEYS = ["prompt", "workflow", "parameters", "Comment", "Software", "invokeai_metadata", "sd-metadata",
              "Description", "Dream", "generation_data"]


def hostile_png_text(rng: random.Random) -> bytes:
    chunks = []
    for _ in range(rng.randint(1, 3)):
        key, value = rng.choice(_TEXT_KEYS), rng.choice(_HOSTILE_TEXT)
        raw = value.encode("utf-8", "surrogatepass")
        chunks.append(rng.choice([hostile.text_chunk(key, raw), hostile.itxt_chunk(key, raw),
                                  hostile.itxt_chunk(key, raw + bytes([rng.randrange(0x80, 0x100)])),
                                  hostile.ztxt_chunk(key, raw * rng.choice([1, 3]))]))
    return hostile.png_with_chunks(hostile.photo(seed=rng.randrange(4)), chunks)


_EXIF_TAGS = [0x0112, 0x010F, 0x0110, 0x0131, 0x9286, 0x8769, 0x8825, 0x9003, 0x010E, 0x013B, 0x8298]


def odd_exif(rng: random.Random) -> bytes:
    entries = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.randint(0, 13)  # 0 and 13 are no TIFF type
        count = rng.choice([0, 1, 2, 4, 7, 0xFFFF, 0x7FFFFFFF])
        value = rng.choice([b"6\0", b"\xff\xfe\x00\xd8", b"ASCII\0\0\0Steps: 20, Seed: \xff",
                            b"UNICODE\0" + "caf\ud800".encode("utf-16-le", "surrogatepass"),
                            struct.pack("<II", 6, 0), struct.pack("<I", 0xFFFFFF00), bytes(rng.randrange(64))])
        entries.append((rng.choice(_EXIF_TAGS), kind, count, value))
    return hostile.jpeg(hostile.photo(seed=rng.randrange(4)), exif=hostile.exif_block(entries, rng.random() < 0.5))


_XMP_INNER = [
    '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>',
    '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="\ud800Midjourney\x1b[2J"/>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
    "<rdf:Description>" * 20_000, '<rdf:Description xmp:CreatorTool="&#xD800;&#1114112;"/>',
    '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="' + "A" * 200_000 + '"/>',
]


def hostile_xmp(rng: random.Random) -> bytes:
    packet = hostile.xmp_packet(rng.choice(_XMP_INNER))
    if rng.random() < 0.3:
        packet = flip_bytes(packet, rng)
    if rng.random() < 0.5:
        return hostile.png_with_chunks(hostile.photo(seed=1), [hostile.itxt_chunk("XML:com.adobe.xmp", packet)])
    return hostile.with_segment(hostile.jpeg(hostile.photo(seed=2)),
                                hostile.app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet[:60_000]))


def hostile_jumbf(rng: random.Random) -> bytes:
    payload = hostile.jumbf_payload(label=rng.choice([b"c2pa", b"c2pa.claim", b"\xff" * 8, b""]),
                                    box_length=rng.choice([None, 0, 1, 8, 0xFFFFFFFF, rng.randrange(1 << 20)]),
                                    body=bytes(rng.randrange(256) for _ in range(rng.randrange(200))))
    segments = [hostile.app_segment(0xEB, payload) for _ in range(rng.randint(1, 3))]
    return hostile.with_segment(hostile.jpeg(hostile.photo(seed=3)), b"".join(segments))


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": flip_bytes, "truncate": truncate, "header": corrupt_header,
}
BUILDERS: dict[str, Callable[[random.Random], bytes]] = {
    "png-text": hostile_png_text, "exif": odd_exif, "xmp": hostile_xmp, "jumbf": hostile_jumbf,
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> list[Path]:
    rng = random.Random(SEED)
    folder = tmp_path_factory.mktemp("fuzz")
    seeds = sorted(seed_files().items())
    written = []
    for name, data in seeds:
        written.append(folder / f"seed.{name}")
        written[-1].write_bytes(data)
    for index in range(MUTANTS_PER_KIND):
        for kind, mutate in MUTATIONS.items():
            base_name, base = rng.choice(seeds)
            written.append(folder / f"{index:03d}-{kind}.{base_name}")
            written[-1].write_bytes(mutate(base, rng))
        for kind, build in BUILDERS.items():
            written.append(folder / f"{index:03d}-{kind}.{'png' if kind == 'png-text' else 'jpg'}")
            written[-1].write_bytes(build(rng))
    return written


def check_records(stdout: str, files: list[Path]) -> None:
    records = strict_lines(stdout)
    assert [r["file"] for r in records] == [str(f) for f in files], "one JSON line per file, in order"
    for record, file in zip(records, files):
        assert "verdict" in record or {"error", "error_code"} <= set(record), file.name
        assert record.get("error_code") != "internal", f"{file.name}: {record.get('error')}"
        assert "\n" not in record.get("error", ""), f"{file.name}: a one-line error"


def test_every_fuzzed_file_gets_a_strict_json_verdict_or_error(fuzzed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # In this process (--jobs 1), so the warnings caught here are all there are.
        result = CliRunner().invoke(main, ["analyze", "--json", "--jobs", "1", *map(str, fuzzed)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stderr
    pillow = {str(w.message) for w in caught if "PIL" in w.filename}
    assert not pillow, f"Pillow's warnings belong in the notes, not on stderr: {sorted(pillow)[:3]}"
    check_records(result.stdout, fuzzed)
    verdicts = sum("verdict" in r for r in strict_lines(result.stdout))
    assert verdicts >= len(fuzzed) // 3  # the hostile metadata files still decode: most are analysed


def test_a_real_process_writes_only_strict_utf8_json_and_no_traceback(fuzzed):
    kinds = len(MUTATIONS) + len(BUILDERS)
    sample = fuzzed[:len(seed_files())] + fuzzed[-2 * kinds:]  # every seed, two of every mutation
    done = zoomin("analyze", "--json", "--ordered", *map(str, sample))  # worker processes, in input order
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    stderr = done.stderr.decode("utf-8")
    assert "Traceback" not in stderr and "Maximum supported image dimension" not in stderr
    assert "Warning" not in stderr, stderr  # Pillow's warnings are notes, not stderr lines
    check_records(done.stdout.decode("utf-8"), sample)

