"""The case store as the newsroom's memory (issue 15): perceptual hashes, the banded index
against brute force, near-duplicates through every transform family, and the training
release (off by default, audited, respected by from-cases).  Store tests run on SQLite
and, where it can be started, PostgreSQL (tests/storage_backends.py)."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from models.dataset.from_cases import records_from_cases
from models.dataset.jsonl import read_dataset, write_dataset
from models.sample_images import camera_like_photo, encode
from models.similarity.hashes import ORB, PDQ, ImageHash, bands, hamming, image_hashes, pdq_hash
from storage import CaseStore
from storage.server_events import ACTIONS, server_events
from storage import hash_keys
from storage.similarity import candidates, hash_row, insert_hashes, key_votes, replace_evidence_hashes
from storage.tables import BAND_COLUMNS
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from tests.storage_backends import database_url, store  # noqa: F401  (fixtures: every backend)
from zoomin_ui import memory


def _picture(seed: int) -> Image.Image:
    """A photo-like picture with objects in it (edges and corners, as real scenes have)."""
    picture = Image.fromarray(camera_like_photo(480, 640, seed=seed))
    draw = ImageDraw.Draw(picture)
    generator = random.Random(seed)
    for _ in range(30):
        x, y = generator.randint(0, 600), generator.randint(0, 440)
        w, h = generator.randint(15, 90), generator.randint(15, 90)
        colour = tuple(generator.randint(0, 255) for _ in range(3))
        (draw.rectangle if generator.random() < 0.5 else draw.ellipse)((x, y, x + w, y + h), fill=colour)
    return picture


def _jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _padded(picture: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (int(picture.width * 1.2), int(picture.height * 1.35)), (245, 245, 245))
    canvas.paste(picture, (int(picture.width * 0.1), int(picture.height * 0.2)))
    return canvas


def _captioned(picture: Image.Image) -> Image.Image:
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, int(out.height * 0.88), out.width, out.height), fill=(0, 0, 0))
    draw.text((10, int(out.height * 0.9)), "SHARED 10,000 TIMES", fill=(255, 255, 255))
    return out


TRANSFORMS = {
    "jpeg q50": lambda p: _jpeg(p, 50),
    "resize 25%": lambda p: p.resize((p.width // 4, p.height // 4)),
    "crop 15% (corner)": lambda p: p.crop((0, 0, int(p.width * 0.85), int(p.height * 0.85))),
    "crop 20% (centre)": lambda p: p.crop((int(p.width * .1), int(p.height * .1), int(p.width * .9), int(p.height * .9))),
    "mirror": ImageOps.mirror,
    "screenshot padding": _padded,
    "text overlay": _captioned,
}


# ---------------------------------------------------------------------- hashes


def test_hashes_are_stable_and_banded():
    rgb = camera_like_photo(240, 320, seed=3)
    first, again = image_hashes(rgb), image_hashes(rgb.copy())
    assert first == again
    assert first[0].algorithm == PDQ and first[0].quality >= 50
    assert len([h for h in first if h.algorithm == ORB]) >= 20
    value = first[0].hex
    assert "".join(f"{b:04x}" for b in bands(value)) == value
    assert hamming(value, value) == 0
    other = pdq_hash(camera_like_photo(240, 320, seed=4)).hex
    assert hamming(value, other) > 60  # unrelated pictures are far apart


def test_flat_padding_is_found_around_the_picture_and_nowhere_else():
    from models.similarity.hashes import content_box

    picture = _picture(7)
    padded = np.asarray(_jpeg(_padded(picture), 75))  # picture at (64, 96), 640x480, in 768x648
    left, top, right, bottom = content_box(padded)
    assert abs(left - 64) <= 4 and abs(top - 96) <= 4 and abs(right - 704) <= 4 and abs(bottom - 576) <= 4
    assert content_box(np.asarray(_jpeg(picture, 75))) is None  # a photo to its edges
    rim = Image.new("RGB", (652, 492), (0, 0, 0))
    rim.paste(picture, (6, 6))  # a 1 % dark rim is a photo's own, not padding
    assert content_box(np.asarray(rim)) is None
    logo = Image.new("RGB", (1000, 1000), (255, 255, 255))
    logo.paste(picture.resize((200, 150)), (400, 400))  # mostly flat: no picture to measure inside it
    assert content_box(np.asarray(logo)) is None
    dark = Image.new("RGB", (640, 700), (20, 20, 24))
    dark.paste(picture, (0, 110))  # bands on two edges only, dark
    assert content_box(np.asarray(_jpeg(dark, 85))) is not None
    assert abs(content_box(np.asarray(_jpeg(dark, 85)))[1] - 110) <= 4


def test_a_padded_copy_is_measured_inside_its_padding(store):
    """A picture framed by wide flat bands (a screenshot of a post) is found, said to be padded,
    even where the stored picture has a flat frame of its own (as web thumbnails do)."""
    framed = Image.new("RGB", (356, 356), (255, 255, 255))
    framed.paste(_picture(8).resize((256, 192)), (50, 82))
    case = store.open_case_with_evidence("framed", encode(np.asarray(framed), "PNG"), "D. Reyes").record.case_id
    wide = Image.new("RGB", (460, 560), (240, 242, 245))
    wide.paste(framed, (52, 90))
    (match,) = memory.seen_before(store, encode(np.asarray(wide), "JPEG", quality=90))
    assert match.case_id == case and "padded or captioned like a screenshot" in match.transform


def test_the_quick_screen_keeps_every_copy_the_full_fit_finds():
    """keypoint_matches screens with a few random pairs before the full fit: a copy's 16
    agreeing corners among many wrong matches still pass the screen, and a set of matches
    with no common geometry does not."""
    from models.similarity.geometry import fit_scale_shift
    from models.similarity.matching import MIN_INLIERS, SCREEN_HYPOTHESES, SCREEN_INLIERS

    for seed in range(40):
        generator = np.random.default_rng(seed)
        agreeing, wrong = MIN_INLIERS, int(generator.integers(20, 48))
        query = generator.random((agreeing + wrong, 2))
        stored = np.vstack([0.8 * query[:agreeing] + 0.05, generator.random((wrong, 2))])
        ids = np.arange(agreeing + wrong)
        assert fit_scale_shift(query, stored, ids).inliers >= MIN_INLIERS
        assert fit_scale_shift(query, stored, ids, hypotheses=SCREEN_HYPOTHESES).inliers >= SCREEN_INLIERS, seed
        unrelated = generator.random((agreeing + wrong, 2))
        assert fit_scale_shift(query, unrelated, ids, hypotheses=SCREEN_HYPOTHESES).inliers < SCREEN_INLIERS, seed


def test_a_malformed_hash_is_refused():
    with pytest.raises(ValueError):
        ImageHash(PDQ, "full", "xyz", 100)


# ---------------------------------------------------------------------- the index against brute force


def _random_hex(generator: random.Random) -> str:
    return f"{generator.getrandbits(256):064x}"


def _flip(hex_digits: str, bits: int, generator: random.Random) -> str:
    value = int(hex_digits, 16)
    for position in generator.sample(range(256), bits):
        value ^= 1 << position
    return f"{value:064x}"


def test_the_banded_index_finds_everything_brute_force_finds_within_15_bits(store):
    generator = random.Random(7)
    stored = [_random_hex(generator) for _ in range(3000)]
    queries = [_flip(generator.choice(stored), generator.randint(0, 15), generator) for _ in range(40)]
    rows = [hash_row(ImageHash(PDQ, "full", h, 100)) for h in stored]
    store._db.write(lambda s: insert_hashes(s, rows))
    for query in queries:
        found = {c.hex for c in store._db.read(lambda s, q=query: candidates(s, PDQ, [q]))}
        truth = {h for h in stored if hamming(h, query) <= 15}
        assert truth and truth <= found
        # and the candidates are few: random 16-bit bands rarely collide
        assert len(found) < 40


def _store_owned(store: CaseStore, hexes: list[str], per_owner: int) -> list[tuple[str, int]]:
    """Keypoint descriptors stored `per_owner` to an owner (entries of one throw-away list);
    the owner of each, in order."""
    from storage.tables import HashListEntryRow, HashListRow, utc_now

    def write(session) -> list[int]:
        listed = HashListRow(source="test", file_name="t.csv", file_sha256="0" * 64, entries=0,
                             imported_by="test", imported_at=utc_now())
        session.add(listed)
        session.flush()
        entries = [HashListEntryRow(list_id=listed.id, line=n + 1) for n in range(-(-len(hexes) // per_owner))]
        session.add_all(entries)
        session.flush()
        insert_hashes(session, [hash_row(ImageHash(ORB, "kp", h, 100, 0.5, 0.5),
                                         list_entry_id=entries[n // per_owner].id) for n, h in enumerate(hexes)])
        return [entries[n // per_owner].id for n in range(len(hexes))]

    return [("list", i) for i in store._db.write(write)]


def _brute_votes(store: CaseStore, stored: list[str], owners: list, queries: list[str], limit: int | None = None) -> dict:
    """key_votes by brute force: per owner, its descriptors sharing a telling key with a query
    and the weight of the keys shared (1 / descriptors carrying each), from the counts table."""
    counts = store._db.read(_key_counts)
    votes: dict = {}
    for h, owner in zip(stored, owners):
        shared = [counts[(ORB, i // 8, int(h[i:i + 4], 16), int(h[i + 4:i + 8], 16))] for i in range(0, 64, 8)
                  if any(q[i:i + 8] == h[i:i + 8] for q in queries)]
        shared = [c for c in shared if limit is None or c <= limit]
        if shared:
            descriptors, weight = votes.get(owner, (0, 0.0))
            votes[owner] = (descriptors + 1, weight + sum(1 / c for c in shared))
    return votes


def _votes(store: CaseStore, queries: list[str], votes: int = 1) -> dict:
    found = store._db.read(lambda s: key_votes(s, ORB, queries, votes))
    return {owner: (v.descriptors, pytest.approx(v.weight)) for owner, v in found.items()}


def test_the_keypoint_index_counts_every_hash_sharing_a_32_bit_key_as_brute_force_does(store):
    generator = random.Random(8)
    stored = [_random_hex(generator) for _ in range(3000)]
    # Queries near stored hashes (always found within 7 bits: 8 keys, pigeonhole), further off
    # (found when a key survives), and hashes sharing only the first band of a key (not found).
    queries = [_flip(generator.choice(stored), generator.randint(0, 7), generator) for _ in range(30)]
    queries += [_flip(generator.choice(stored), generator.randint(8, 40), generator) for _ in range(30)]
    queries += [generator.choice(stored)[:4] + _random_hex(generator)[4:] for _ in range(10)]
    owners = _store_owned(store, stored, per_owner=3)
    # another algorithm: never counted, though it is stored[0] again
    store._db.write(lambda s: insert_hashes(s, [hash_row(ImageHash(PDQ, "full", stored[0], 100))]))

    for n, query in enumerate(queries):
        found = _votes(store, [query])
        assert found == _brute_votes(store, stored, owners, [query]), f"query {n}"
        if n < 30:
            assert found
    # Several at once: each stored descriptor counts once however many keys and queries it shares,
    # and owners under `votes` are left out.
    several = [_flip(stored[3 * n], 3, generator) for n in range(5)] + [_flip(stored[3 * n + 1], 3, generator)
                                                                         for n in range(3)]
    truth = _brute_votes(store, stored, owners, several)
    assert _votes(store, several) == truth
    assert _votes(store, several, votes=2) == {o: v for o, v in truth.items() if v[0] >= 2}
    assert sorted(v[0] for v in truth.values())[-3:] == [2, 2, 2]


def _key_counts(session) -> dict:
    return {(r.algorithm, r.position, r.band_a, r.band_b): r.descriptors
            for r in session.execute(__import__("sqlalchemy").text(
                "SELECT algorithm, position, band_a, band_b, descriptors FROM hash_key_counts"))}


def _counted_again(session) -> dict:
    """The counts as brute force over perceptual_hashes gives them."""
    rows = session.execute(__import__("sqlalchemy").text(
        f"SELECT algorithm, {', '.join(BAND_COLUMNS)} FROM perceptual_hashes")).all()
    return dict(hash_keys.keys_of(ORB, [tuple(r[1:]) for r in rows if r[0] == ORB]))


def test_keys_carried_by_too_many_descriptors_are_skipped_and_the_rest_counted_as_brute_force_does(store):
    generator = random.Random(9)
    limit = hash_keys.COMMON_FLOOR
    generic, shared = "deadbeef", "0badcafe"
    # 3,000 random descriptors; limit + 1 carry one generic key (a frame's corner), exactly
    # `limit` carry another at the next key position: the first is skipped, the second is not.
    stored = [_random_hex(generator) for _ in range(3000)]
    stored += [generic + _random_hex(generator)[8:] for _ in range(limit + 1)]
    stored += [_random_hex(generator)[:8] + shared + _random_hex(generator)[16:] for _ in range(limit)]
    owners = _store_owned(store, stored, per_owner=1)
    counts = store._db.read(_key_counts)
    assert counts == store._db.read(_counted_again)
    assert counts[(ORB, 0, 0xdead, 0xbeef)] == limit + 1 and counts[(ORB, 1, 0x0bad, 0xcafe)] == limit
    assert store._db.read(hash_keys.common_limit) == limit   # a small store: the floor

    only_generic = generic + _random_hex(generator)[8:]
    a_generic_one = stored[3000][:40] + _flip(stored[3000], 9, generator)[40:]   # its own keys 5-7 changed
    queries = [only_generic, a_generic_one, _random_hex(generator)[:8] + shared + _random_hex(generator)[16:]]
    queries += [_flip(generator.choice(stored), generator.randint(0, 30), generator) for _ in range(30)]
    for n, query in enumerate(queries):
        assert _votes(store, [query]) == _brute_votes(store, stored, owners, [query], limit), f"query {n}"
    assert _votes(store, [only_generic]) == {}
    # keys 1-4 unchanged, each carried by this descriptor alone (key 0, the generic one, skipped)
    assert _votes(store, [a_generic_one]) == {owners[3000]: (1, pytest.approx(4.0))}
    assert _votes(store, [queries[2]]) == {owners[n]: (1, pytest.approx(1 / limit)) for n in range(3065, 3065 + limit)}


def test_the_shortlist_keeps_the_pictures_with_the_most_telling_keys():
    from models.similarity.matching import MIN_VOTES, SHORTLIST, SHORTLIST_SHARE, KeyVotes, shortlist

    noise = {("list", n): KeyVotes(MIN_VOTES + n % 4, 0.05 * (1 + n % 4)) for n in range(40)}
    copy = {("evidence", 1): KeyVotes(45, 30.0), **noise}
    assert shortlist(copy) == [("evidence", 1)]      # a clear copy is matched alone
    crop = {("evidence", 7): KeyVotes(9, 0.5), ("evidence", 8): KeyVotes(9, 0.45), **noise}
    ranked = shortlist(crop)
    assert ranked[:2] == [("evidence", 7), ("evidence", 8)] and len(ranked) == SHORTLIST
    assert all(crop[o].weight >= 0.5 * SHORTLIST_SHARE for o in ranked)
    # Ranked by weight, not by count: many generic keys weigh less than a few of the picture's own.
    generic = {("evidence", 2): KeyVotes(30, 0.6), ("evidence", 3): KeyVotes(5, 4.0)}
    assert shortlist(generic) == [("evidence", 3)]
    assert shortlist({("list", 1): KeyVotes(MIN_VOTES - 1, 9.0)}) == [] and shortlist({}) == []


def test_key_counts_follow_every_write_of_the_index(store):
    """Intake, a replaced file's hashes (reindex) and a bulk rebuild all leave the counts as
    brute force over the stored rows gives them, and no key counted at zero."""
    first = store.open_case_with_evidence("one", encode(camera_like_photo(300, 400, seed=11), "PNG"), "A. Analyst")
    store.open_case_with_evidence("two", encode(camera_like_photo(300, 400, seed=12), "PNG"), "A. Analyst")
    counts = store._db.read(_key_counts)
    assert counts and counts == store._db.read(_counted_again)
    file_id = first.record.id
    other = image_hashes(camera_like_photo(320, 240, seed=13))
    store._db.write(lambda s: replace_evidence_hashes(s, file_id, other))
    assert store._db.read(_key_counts) == store._db.read(_counted_again) != counts
    store._db.write(lambda s: replace_evidence_hashes(s, file_id, []))
    assert store._db.read(_key_counts) == store._db.read(_counted_again)
    assert min(store._db.read(_key_counts).values()) > 0
    store._db.write(hash_keys.rebuild)
    assert store._db.read(_key_counts) == store._db.read(_counted_again)


# ---------------------------------------------------------------------- near-duplicates


def test_every_transform_family_is_found_with_its_case_and_unrelated_pictures_are_not(store):
    originals = [_picture(seed) for seed in (11, 12, 13)]
    case_of = {}
    for n, picture in enumerate(originals):
        intake = store.open_case_with_evidence(f"viral {n}", encode(np.asarray(picture), "PNG"), "D. Reyes",
                                               original_name=f"viral{n}.png")
        case_of[n] = intake.record.case_id
    store.update_case(case_of[0], "D. Reyes", final_verdict="ai-generated")
    for name, transform in TRANSFORMS.items():
        for n, picture in enumerate(originals):
            copy = encode(np.asarray(transform(picture)), "JPEG", quality=85)
            matches = memory.seen_before(store, copy)
            assert [m.case_id for m in matches] == [case_of[n]], f"{name} of picture {n}: {matches}"
            if name != "text overlay":  # a caption bar is a flat band too, and may be set aside
                assert ("like a screenshot" in matches[0].transform) == (name == "screenshot padding"), matches
    sentence = memory.seen_before(store, encode(np.asarray(ImageOps.mirror(originals[0])), "JPEG"))[0].sentence()
    assert sentence.startswith(f"near-duplicate of case {case_of[0]} (concluded ai-generated by D. Reyes on ")
    assert "mirrored" in sentence
    cropped = memory.seen_before(store, encode(np.asarray(TRANSFORMS["crop 15% (corner)"](originals[1])), "JPEG"))
    assert "cropped" in cropped[0].transform
    assert memory.seen_before(store, encode(camera_like_photo(480, 640, seed=99), "JPEG")) == []


def test_the_same_file_is_a_copy_and_the_own_case_can_be_left_out(store):
    data = encode(camera_like_photo(200, 300, seed=5), "PNG")
    case = store.open_case_with_evidence("first", data, "A. Analyst").record.case_id
    (match,) = memory.seen_before(store, data)
    assert match.method == "sha256" and match.sentence().startswith(f"copy of case {case} (not concluded yet)")
    assert memory.seen_before(store, data, excluding_case=case) == []


def test_a_lookup_then_an_intake_of_the_same_upload_hashes_it_once_and_stores_what_an_intake_alone_would(
        store, monkeypatch):
    import storage.memory as store_memory
    from models.image_input import load_image
    from models.similarity.hashes import picture_hashes
    from sqlalchemy import text

    image = load_image(encode(np.asarray(_picture(21)), "JPEG", quality=85), name="upload.jpg")
    for rgb in (image.rgb, np.asarray(_picture(22))[:37, :300]):  # one computation, the same stored hashes
        assert picture_hashes(rgb).stored == image_hashes(rgb)
    computed = []
    monkeypatch.setattr(store_memory, "_recent", type(store_memory._recent)())  # none kept from another test
    monkeypatch.setattr(store_memory, "picture_hashes",
                        lambda rgb: computed.append(rgb.shape) or picture_hashes(rgb))
    monkeypatch.setattr(store_memory, "image_hashes", lambda rgb: pytest.fail("the upload was hashed again"))
    assert memory.seen_before(store, image) == []  # the page's check, before the upload is stored
    file_id = store.open_case_with_evidence("upload", image, "A. Analyst").record.id
    assert computed == [image.rgb.shape]
    stored = store._db.read(lambda s: s.execute(text(
        "SELECT algorithm, hash FROM perceptual_hashes WHERE evidence_file_id = :i"), {"i": file_id}).all())
    assert sorted(map(tuple, stored)) == sorted((h.algorithm, h.hex) for h in picture_hashes(image.rgb).stored)


def test_reindex_back_fills_files_stored_without_hashes(store):
    data = encode(camera_like_photo(200, 300, seed=6), "PNG")
    store.open_case_with_evidence("old", data, "A. Analyst")
    store._db.write(lambda s: s.execute(__import__("sqlalchemy").text("DELETE FROM perceptual_hashes")))
    assert memory.seen_before(store, encode(camera_like_photo(200, 300, seed=6), "JPEG")) == []
    assert memory.reindex(store) == (1, [])
    assert len(memory.seen_before(store, encode(camera_like_photo(200, 300, seed=6), "JPEG"))) == 1
    assert memory.reindex(store) == (0, [])


# ---------------------------------------------------------------------- training release


def test_training_release_is_off_by_default_audited_and_respected_by_from_cases(store, tmp_path):
    cases = []
    for seed in (21, 22, 23):
        intake = store.open_case_with_evidence(f"case {seed}", encode(camera_like_photo(200, 300, seed=seed), "PNG"),
                                               "D. Reyes")
        cases.append(intake.record.case_id)
        store.update_case(intake.record.case_id, "D. Reyes", final_verdict="ai-generated" if seed != 23 else "real")
    assert not any(memory.training_allowed(store, c) for c in cases)
    assert records_from_cases(store).records == ()
    memory.release_for_training(store, cases[0], "D. Reyes", reason="decided with the wire service")
    memory.release_for_training(store, cases[2], "E. Editor")
    history = store.get_case(cases[0]).history
    event = [e for e in history if e.action == "training-release-changed"][-1]
    assert event.actor == "D. Reyes" and event.before == {"training_allowed": False}
    assert event.after["training_allowed"] is True and "wire service" in event.after["reason"]
    summary = records_from_cases(store)
    assert sorted(r.extra["case_id"] for r in summary.records) == [cases[0], cases[2]]
    labels = {r.extra["case_id"]: r.label for r in summary.records}
    assert labels == {cases[0]: "fake", cases[2]: "real"}
    assert all(r.annotator.backend == "human" and r.annotator.model_id == "D. Reyes" for r in summary.records)
    assert {r.extra["split"] for r in summary.records} <= {"train", "test"}
    out = tmp_path / "train.jsonl"
    assert write_dataset(out, summary.records) == 2
    assert len(read_dataset(out)) == 2
    assert [r.label for r in records_from_cases(store, verdict="real").records] == ["real"]
    memory.release_for_training(store, cases[0], "D. Reyes", allowed=False)
    assert [r.extra["case_id"] for r in records_from_cases(store).records] == [cases[2]]


def test_near_duplicate_cases_share_a_split_group(store):
    picture = _picture(31)
    ids = []
    for n, copy in enumerate((picture, ImageOps.mirror(picture), _picture(32))):
        intake = store.open_case_with_evidence(f"c{n}", encode(np.asarray(copy), "PNG"), "D. Reyes")
        store.update_case(intake.record.case_id, "D. Reyes", final_verdict="ai-generated")
        memory.release_for_training(store, intake.record.case_id, "D. Reyes")
        ids.append(intake.record.case_id)
    groups = {r.extra["case_id"]: r.extra["dup_group"] for r in records_from_cases(store).records}
    assert groups[ids[0]] == groups[ids[1]] != groups[ids[2]]


# ---------------------------------------------------------------------- shared hash lists


def _count(store: CaseStore, table: str) -> int:
    from sqlalchemy import text

    return store._db.read(lambda s: s.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar())


GOOD_HASH = "f" * 32 + "0" * 32


@pytest.mark.parametrize("body, expected", [
    (f"hash,quality,verdict\n{GOOD_HASH},90,real\nnot-a-hash,90,real\n", "line 3: the hash is not 64 hex digits"),
    (f"hash,quality\n{GOOD_HASH},abc\n", "line 2: quality 'abc' is not a whole number"),
    (f"hash,quality\n{GOOD_HASH},101\n", "line 2: quality is between 0 and 100"),
    (f"hash,verdict\n{GOOD_HASH},\"real\x1b[31m\"\n", "line 2: the verdict holds control characters"),
    (f"hash,concluded_on\n{GOOD_HASH},yesterday\n", "line 2: the date 'yesterday' is not YYYY-MM-DD"),
    ("quality,verdict\n90,real\n", "line 1: the header must name a 'hash' column"),
    ('[{"hash": "' + GOOD_HASH + '"}, 7]', "line 2: an entry is an object"),
    ('[{"hash": ', "not valid JSON"),
    ("hash\n", "no entries"),
])
def test_a_hostile_or_malformed_list_is_refused_whole_with_line_numbers(store, body, expected):
    with pytest.raises(Exception) as refused:
        store.memory.import_hash_list(body.encode(), "their.csv", "Other Desk", "D. Reyes")
    assert expected in str(refused.value) and "nothing was imported" in str(refused.value)
    assert _count(store, "hash_lists") == _count(store, "hash_list_entries") == _count(store, "perceptual_hashes") == 0
    assert _count(store, "server_events") == 0  # a refused list is not logged as imported


def test_an_exported_list_imported_elsewhere_names_its_source(store, tmp_path):
    from storage.hash_lists import write_list

    picture = _picture(41)
    case = store.open_case_with_evidence("fake", encode(np.asarray(picture), "PNG"), "D. Reyes").record.case_id
    store.update_case(case, "D. Reyes", final_verdict="ai-generated", final_note="private reasoning")
    rows = store.memory.export_hash_list()
    assert len(rows) == 1 and rows[0]["verdict"] == "ai-generated" and "note" not in rows[0]
    assert "private reasoning" in write_list(store.memory.export_hash_list(with_notes=True), "csv")
    listed = write_list(rows, "csv")
    assert listed.startswith("hash,quality,verdict,concluded_on,case_uid\n")
    with CaseStore.open(tmp_path / "elsewhere") as other:
        assert other.memory.import_hash_list(listed.encode(), "list.csv", "Partner Newsroom", "E. Editor") == 1
        (match,) = memory.seen_before(other, encode(np.asarray(_jpeg(picture, 70)), "JPEG"))
        (event,) = server_events(other)
    assert (event.actor, event.action) == ("E. Editor", "hashlist-imported")
    assert event.action in ACTIONS  # the server log's list of actions names every one it holds
    assert event.detail["source"] == "Partner Newsroom" and event.detail["entries"] == 1
    assert event.detail["file_name"] == "list.csv"
    assert event.detail["file_sha256"] == hashlib.sha256(listed.encode()).hexdigest()
    assert match.case_id is None and match.listed.source == "Partner Newsroom"
    assert match.sentence().startswith("on the shared list from Partner Newsroom (listed as ai-generated")
    assert "their decision, not this newsroom's" in match.sentence()


def test_a_from_cases_dataset_reads_as_a_training_manifest(store, tmp_path):
    from models.evidence.dev_manifest import read_manifest

    for seed, verdict in ((51, "ai-generated"), (52, "real")):
        case = store.open_case_with_evidence(f"c{seed}", encode(np.asarray(_picture(seed)), "PNG"),
                                             "D. Reyes").record.case_id
        store.update_case(case, "D. Reyes", final_verdict=verdict)
        memory.release_for_training(store, case, "D. Reyes")
    out = tmp_path / "cases.jsonl"
    write_dataset(out, records_from_cases(store).records)
    entries = read_manifest(out)
    assert sorted(e.label for e in entries) == [0, 1]
    assert all(e.trainable and e.path.is_file() and e.group for e in entries)


def test_the_page_releases_a_case_for_training_audited_and_draws_it_per_case(tmp_path):
    from tests.test_app_handlers import event
    from zoomin_ui.service import open_store
    from zoomin_ui.web.detectors import BackendConfig, Detectors
    from zoomin_ui.web.handlers import Handlers
    from zoomin_ui.web.screen import ViewState

    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(encode(np.asarray(_picture(61)), "PNG"))
    second.write_bytes(encode(np.asarray(_picture(62)), "PNG"))
    with open_store(str(tmp_path / "home")) as store:
        handlers = Handlers(store, Detectors(BackendConfig.from_env(env={})))
        opened = event(handlers, handlers.upload, [str(first)], "dana", ViewState())
        assert opened.training_allowed is False
        saved = event(handlers, handlers.save_verdict, "ai-generated", "", "dana", opened.state, True)
        assert "released as training data" in saved.status and saved.training_allowed is True
        case_id = saved.state.case_id
        assert [e.actor for e in store.get_case(case_id).history if e.action == "training-release-changed"] == ["dana"]
        other = event(handlers, handlers.upload, [str(second)], "dana", saved.state)
        assert other.training_allowed is False  # another case: its own flag, off
        again = event(handlers, handlers.save_verdict, "ai-generated", "", "dana", saved.state, True)
        assert "training" not in again.status  # unchanged: nothing new is audited
