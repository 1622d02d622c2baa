"""The verdict rules: the model's word, its measured probability, decisive file evidence."""

from __future__ import annotations

import math

import pytest

from models.types import Evidence
from models.vlm.conversation import TokenStep
from models.vlm.parsing import parse_examine
from models.vlm.verdict import FIXED_SCORES, fuse_with_evidence, model_verdict, verdict_probability

ANSWER = "<think>hands are wrong</think><verdict>generated</verdict>"
WORD_AT = ANSWER.index("generated</verdict>")


def steps(candidates: dict[str, float], start: int = WORD_AT) -> list[TokenStep]:
    return [TokenStep(0), TokenStep(start, candidates), TokenStep(start + 5)]


def test_probability_is_renormalised_over_the_two_answers():
    probability, how = verdict_probability(steps({"ai-generated": math.log(0.6), "real": math.log(0.2)}),
                                           WORD_AT, ANSWER)
    assert how == "measured"
    assert probability.p_generated == pytest.approx(0.75) and probability.mass == pytest.approx(0.8)


def test_a_token_carrying_the_space_before_the_word_counts():
    text = "<verdict> generated</verdict>"
    word = text.index("generated")
    probability, _ = verdict_probability(steps({"ai-generated": math.log(0.9), "real": math.log(0.1)}, word - 1),
                                         word, text)
    assert probability.p_generated == pytest.approx(0.9)


def test_no_probability_when_the_word_is_merged_into_a_token_or_absent():
    merged = [TokenStep(0), TokenStep(WORD_AT - 1, {"ai-generated": -0.1})]  # ">generated" as one token
    assert verdict_probability(merged, WORD_AT, ANSWER)[0] is None
    assert verdict_probability(None, WORD_AT, ANSWER)[1] == "the backend returned no token probabilities"
    assert verdict_probability(steps({}), WORD_AT, ANSWER)[0] is None


def test_one_sided_alternatives_still_give_a_measured_lower_bound():
    probability, _ = verdict_probability(steps({"real": math.log(0.3)}), WORD_AT, ANSWER)
    assert probability.p_generated == pytest.approx(0.7) and probability.mass is None


def test_measured_score_and_explanation():
    probability, how = verdict_probability(steps({"ai-generated": math.log(0.9), "real": math.log(0.1)}),
                                           WORD_AT, ANSWER)
    judged = model_verdict(parse_examine(ANSWER), probability, how, "Qwen/Qwen2.5-VL-7B-Instruct")
    assert judged.verdict == "ai-generated" and judged.score == pytest.approx(0.9)
    assert judged.score_source.startswith("measured") and "hands are wrong" in judged.explanation


def test_without_probabilities_the_score_is_a_stated_stand_in():
    judged = model_verdict(parse_examine("<verdict>real</verdict>"), None, "the server returned no logprobs", "m")
    assert judged.verdict == "real" and judged.score == FIXED_SCORES["real"]
    assert "not a measurement" in judged.score_source
    assert "no token probability was available" in judged.explanation


def test_a_parse_failure_is_inconclusive_and_says_so():
    judged = model_verdict(parse_examine("<think>the light is odd"), None, "no verdict word", "m")
    assert judged.verdict == "inconclusive" and judged.score == 0.5
    assert "could not be parsed" in judged.explanation and "raw_output" in judged.explanation


def test_decisive_provenance_overrides_the_model_and_both_are_stated():
    judged = model_verdict(parse_examine("<think>looks like a photo</think><verdict>real</verdict>"), None,
                           "none", "m")
    metadata = Evidence(kind="metadata", source="generator-metadata", finding="AUTOMATIC1111 parameters chunk",
                        supports="ai-generated", strength=0.99, decisive=True)
    verdict, score, explanation, rule = fuse_with_evidence(judged, [metadata])
    assert (verdict, rule) == ("ai-generated", "decisive-evidence") and score == pytest.approx(0.99)
    assert "AUTOMATIC1111" in explanation and "disagrees" in explanation and "looks like a photo" in explanation


def test_decisive_evidence_decides_even_when_the_model_answer_is_unreadable():
    judged = model_verdict(parse_examine("garbage"), None, "no verdict word", "m")
    camera = Evidence(kind="provenance", source="c2pa", finding="trusted camera credential", supports="real",
                      strength=0.95, decisive=True)
    verdict, _, explanation, _ = fuse_with_evidence(judged, [camera])
    assert verdict == "real" and "could not be parsed" in explanation


def test_weak_evidence_leaves_the_model_in_charge():
    judged = model_verdict(parse_examine("<verdict>generated</verdict>"), None, "none", "m")
    signal = Evidence(kind="signal", source="signal-model", finding="P(AI)=0.3", supports="neither")
    assert fuse_with_evidence(judged, [signal])[0] == "ai-generated"
