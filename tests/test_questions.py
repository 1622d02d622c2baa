"""Questions to the evidence engine: what a question is about is recognised and
answered in plain sentences from the region's matching measurements, and a
question only a vision-language model can answer says so and names it."""

from __future__ import annotations

import pytest

from models.evidence.questions import answer_question
from models.glossary import BANNED_TERMS
from models.types import Box, Evidence, Region


def cue(source: str, score: float, **details) -> Evidence:
    return Evidence("signal", source, f"{source} measured (expert wording)", "ai-generated" if score >= 0.9
                    else "neither", score, details={**details, "score": score, "reference_photos": 84})


def region(smooth: float = 0.2, error: float = 0.2, periodic: float = 0.2, trace: float | None = 0.3) -> Region:
    evidence = [cue("smoother", smooth, noise_sigma=0.34, expected_sigma=0.65, log2_ratio=-0.93),
                cue("error-level", error, error_level=0.66, typical_error_level=1.07),
                cue("periodic", periodic, peak_ratio=3.2, frequency=0.5, axis="horizontal"),
                Evidence("signal", "signal-model", "learned model (expert wording)", "real", 0.2,
                         details={"probability": 0.42, "image_probability": 0.65, "score": 0.42})]
    if trace is not None:
        evidence.append(cue("trace-missing", trace, frequency=0.5, log2_deficit=1.0))
    label = "smoother than the rest (noise)" if smooth >= 0.9 else "no clear anomaly"
    return Region(Box(10, 10, 200, 200), max(smooth, error, periodic), label, evidence=evidence, id="a1")


ODD, PLAIN = region(smooth=0.99), region()


def ask(question: str, where: Region = ODD, image_evidence=()) -> str:
    answer = answer_question(question, [where], list(image_evidence))
    assert not answer.startswith("The evidence engine answers")
    assert not any(term.lower() in answer.lower() for term in BANNED_TERMS), answer
    return answer


def sentences(text: str) -> int:
    return text.count(". ") + 1


def test_noise_is_answered_from_the_noise_measurement():
    odd = ask("Is the noise here consistent with the rest?")
    assert "noise level" in odd and "1.9 times lower" in odd and "99%" in odd and sentences(odd) <= 2
    assert "no more than in real photos" in ask("is the grain normal?", PLAIN)
    assert "compress" not in odd  # only the matching measurement


def test_blur_or_bokeh_is_answered_from_the_grain():
    odd = ask("Is the blur bokeh or generated?")
    assert "bokeh" in odd and "generated or painted-in blur" in odd and sentences(odd) <= 2
    plain = ask("is the background out of focus naturally?", PLAIN)
    assert "as genuine bokeh does" in plain and "vision-language" in plain


def test_compression_is_answered_from_the_error_level():
    assert "compressed differently" in ask("JPEG artefacts around here?", region(error=0.97))
    assert "nothing suggests it was saved separately" in ask("was it compressed separately?", PLAIN)


def test_repetition_is_answered_from_the_periodic_trace_and_says_what_it_cannot_see():
    odd = ask("Is there a repeating pattern?", region(periodic=0.96))
    assert "regular pattern stands out" in odd and "2-pixel period" in odd
    plain = ask("cloned texture?", PLAIN)
    assert "No regular pattern stands out" in plain and "not for copied objects" in plain


def test_colour_names_what_is_measured_and_who_can_judge_the_rest():
    answer = ask("Does the colour look off?")
    assert "does not measure colour" in answer and "--backend vlm" in answer and "colour-filter pattern" in answer
    assert "colour-filter" not in ask("what about the colors?", region(trace=None))


def test_edges_are_answered_by_how_the_area_differs_from_its_surroundings():
    assert "smoother than the rest of the image" in ask("Are the edges of this object a cut-out seam?")
    assert "neither differs" in ask("halo around the edge?", PLAIN)


def test_pasted_or_generated_is_answered_with_the_region_and_the_model():
    odd = ask("Is this area pasted in?")
    assert odd.startswith("This area stands out: smoother than the rest") and "not proof" in odd
    assert "0.42" in odd and "0.65" in odd
    assert ask("is it AI generated?", PLAIN).startswith("Nothing measured here stands out")


def test_file_records_are_answered_for_the_whole_file():
    exif = Evidence("metadata", "exif:camera", "EXIF (expert)", "real", 0.3, details={"make": "Canon",
                                                                                     "model": "EOS R5"})
    assert "camera metadata (Canon EOS R5)" in ask("what does the EXIF say?", image_evidence=[exif])
    assert "no Content Credentials" in ask("is it signed?")


@pytest.mark.parametrize("question", ["Are the hands anatomically right?", "Does the shadow match the light?",
                                      "What is written on the sign?"])
def test_questions_about_the_scene_point_to_the_vision_language_backend(question):
    answer = ask(question)
    assert "only a vision-language model can judge" in answer and "--backend vlm" in answer


def test_an_unrecognised_question_says_so_and_lists_what_it_can_answer():
    answer = ask("Why?")
    assert "did not recognise" in answer and "--backend vlm" in answer and "noise" in answer


def test_several_areas_are_answered_one_by_one():
    second = Region(Box(0, 0, 50, 50), 0.2, "no clear anomaly", evidence=PLAIN.evidence, id="a2")
    answer = answer_question("noise?", [ODD, second], [])
    assert answer.splitlines()[0].startswith("Area a1: ") and answer.splitlines()[1].startswith("Area a2: ")
