"""GRPO's reward functions on hand-made completions, with hand-computed values."""

from __future__ import annotations

import pytest

from models.dataset.jsonl import read_dataset
from models.image_input import load_image
from models.training.config import TrainConfig, TrainConfigError, parse_reward_weights
from models.training.conversations import ConversationSettings, record_examples
from models.training.rewards import (best_match_iou, combined_reward, completion_text, format_reward, iou_reward,
                                     label_reward, rewards, trl_reward_functions)
from tests.training_data import make_dataset

SCAN_JSON = '[{"bbox_2d": [0, 0, 10, 10], "label": "hand", "reason": "six fingers"}]'
EXAMINE_FULL = ('<think>The hand has six fingers.</think>\n'
                '<regions>[{"region": 1, "artifact": true, "finding": "six fingers"}, '
                '{"region": 2, "artifact": false, "finding": "fine"}]</regions>\n<verdict>generated</verdict>')


@pytest.mark.parametrize("predicted, annotated, expected", [
    ([[0, 0, 10, 5]], [[0, 0, 10, 10]], 0.5),                  # 50 / 100
    ([[5, 5, 15, 15]], [[0, 0, 10, 10]], 25 / 175),             # overlap 5x5, union 100 + 100 - 25
    ([[10, 10, 0, 0]], [[0, 0, 10, 10]], 1.0),                  # corners in either order
    ([[50, 50, 60, 60]], [[0, 0, 10, 10]], 0.0),
    ([], [[0, 0, 10, 10]], 0.0),
    # best match per annotated box, averaged: (1 + 50/150) / 2
    ([[0, 0, 10, 10], [25, 20, 35, 30]], [[0, 0, 10, 10], [20, 20, 30, 30]], (1 + 1 / 3) / 2),
    # a second prediction on the same annotated box does not count twice
    ([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10], [20, 20, 30, 30]], 0.5),
])
def test_best_match_iou(predicted, annotated, expected):
    assert best_match_iou(predicted, annotated) == pytest.approx(expected)


def test_iou_reward_reads_the_scan_answer_and_keeps_only_max_regions():
    assert iou_reward(SCAN_JSON, "scan", "fake", [[0, 0, 10, 5]]) == pytest.approx(0.5)
    late_hit = ('[{"bbox_2d": [50, 50, 60, 60]}, {"bbox_2d": [70, 70, 80, 80]}, {"bbox_2d": [90, 90, 99, 99]}, '
                '{"bbox_2d": [0, 0, 10, 10]}]')
    assert iou_reward(late_hit, "scan", "fake", [[0, 0, 10, 10]], max_regions=3) == 0.0
    assert iou_reward(late_hit, "scan", "fake", [[0, 0, 10, 10]], max_regions=4) == pytest.approx(1.0)
    assert iou_reward("no idea", "scan", "fake", [[0, 0, 10, 10]]) == 0.0
    # not applicable: real images, fakes without boxes, stage 2
    assert iou_reward(SCAN_JSON, "scan", "real", []) is None
    assert iou_reward(SCAN_JSON, "scan", "fake", []) is None
    assert iou_reward(EXAMINE_FULL, "examine", "fake", [[0, 0, 10, 10]]) is None


def test_format_reward_scan():
    assert format_reward(SCAN_JSON, "scan") == 1.0
    assert format_reward("[]", "scan") == 1.0
    assert format_reward(f"```json\n{SCAN_JSON}\n```", "scan") == 0.5          # readable, not what was asked
    assert format_reward("Region at (1, 2), (30, 40) looks odd", "scan") == 0.5
    assert format_reward("the image looks odd to me", "scan") == 0.0
    assert format_reward("", "scan") == 0.0


def test_format_reward_examine_counts_the_three_parts():
    assert format_reward(EXAMINE_FULL, "examine", region_count=2) == 1.0
    assert format_reward(EXAMINE_FULL, "examine", region_count=3) == pytest.approx(2 / 3)  # region 3 missing
    no_think = EXAMINE_FULL.replace("<think>", "").replace("</think>", "")
    assert format_reward(no_think, "examine", region_count=2) == pytest.approx(2 / 3)
    assert format_reward("<verdict>real</verdict>", "examine", region_count=1) == pytest.approx(1 / 3)
    assert format_reward("it is real", "examine", region_count=1) == 0.0


def test_label_reward():
    assert label_reward(EXAMINE_FULL, "examine", "fake") == 1.0
    assert label_reward(EXAMINE_FULL, "examine", "real") == 0.0
    assert label_reward("<verdict>real</verdict>", "examine", "real") == 1.0
    assert label_reward("<verdict>maybe</verdict>", "examine", "real") == 0.0
    assert label_reward(SCAN_JSON, "scan", "fake") == 1.0     # names regions on a fake
    assert label_reward("[]", "scan", "real") == 1.0          # names none on a real image
    assert label_reward(SCAN_JSON, "scan", "real") == 0.0
    assert label_reward("[]", "scan", "fake") == 0.0
    assert label_reward("gibberish", "scan", "real") == 0.0   # unreadable is never right


def test_weights_combine_and_skip_what_does_not_apply():
    scores = {"format": 1.0, "label": 0.0, "iou": 0.5}
    assert combined_reward(scores, {"format": 1, "label": 2, "iou": 0.5}) == pytest.approx(1.25)
    assert combined_reward({**scores, "iou": None}, {"format": 1, "label": 2, "iou": 0.5}) == pytest.approx(1.0)
    assert combined_reward(scores, parse_reward_weights("iou=2")) == pytest.approx(1.0)
    assert rewards(SCAN_JSON, "scan", "fake", [[0, 0, 10, 5]]) == {"format": 1.0, "label": 1.0,
                                                                    "iou": pytest.approx(0.5)}


def test_reward_weights_are_parsed_and_checked():
    assert parse_reward_weights("format=1, label=2") == {"format": 1.0, "label": 2.0, "iou": 0.0}
    assert TrainConfig("m", "o", reward_weights=parse_reward_weights("label=1,iou=3")).weights == [0.0, 1.0, 3.0]
    for bad in ("format", "speed=1", "label=x", ""):
        with pytest.raises(TrainConfigError):
            parse_reward_weights(bad)
    with pytest.raises(TrainConfigError, match="not all zero"):
        TrainConfig("m", "o", reward_weights={"format": 0.0})


def test_trl_reward_functions_take_batches_of_chat_completions():
    format_fn, label_fn, iou_fn = trl_reward_functions(max_regions=3)
    completions = [[{"role": "assistant", "content": SCAN_JSON}], [{"role": "assistant", "content": "[]"}]]
    columns = {"stage": ["scan", "scan"], "label": ["fake", "fake"], "boxes": [[[0, 0, 10, 5]]] * 2,
               "region_count": [0, 0]}
    assert format_fn(prompts=[None, None], completions=completions, **columns) == [1.0, 1.0]
    assert label_fn(prompts=[None, None], completions=completions, **columns) == [1.0, 0.0]
    assert iou_fn(prompts=[None, None], completions=completions, **columns) == [pytest.approx(0.5), 0.0]
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]) == "ab"


def test_the_training_answers_earn_full_rewards(tmp_path):
    """What SFT teaches is exactly what GRPO rewards (boxes rounded to whole model pixels)."""
    records = read_dataset(make_dataset(tmp_path, count=1))
    settings = ConversationSettings(max_image_pixels=56 * 56 * 4, max_regions=2, zoom_size=56)
    for record in records:
        for example in record_examples(record, load_image(record.path), settings):
            scores = rewards(example.answer, example.stage, example.label, example.model_boxes,
                             example.region_count, max_regions=2)
            assert scores["format"] == 1.0 and scores["label"] == 1.0
            if example.stage == "scan" and record.is_fake:
                assert scores["iou"] > 0.9
            else:
                assert scores["iou"] is None
