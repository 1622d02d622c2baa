"""The words a reader sees, defined once: verdict words, the confidence
scale and short definitions of the terms the page, the CLI and the PDF
report use.  Nothing here names an install path or a docs/ file: a reader
of the report has only the report."""

from __future__ import annotations

from models.evidence.topics import CAMERA_SOURCE
from models.types import CONFIDENCES, VERDICTS

# The large word on the verdict card, the CLI's first line and the report's first page.
VERDICT_WORDS: dict[str, str] = {
    "ai-generated": "AI-generated",
    "real": "Likely real",
    "inconclusive": "Can't tell",
}

# The confidence scale (models.types.Confidence), in words.
CONFIDENCE_WORDS: dict[str, str] = {
    "provenance": "decided by provenance",
    "strong": "strong",
    "weak": "weak",
    "not-enough": "not enough to decide",
}

assert set(VERDICT_WORDS) == set(VERDICTS) and set(CONFIDENCE_WORDS) == set(CONFIDENCES)


def verdict_word(verdict: str | None) -> str:
    """The reader's word for a verdict ("not analysed yet" for none)."""
    if verdict is None:
        return "Not analysed yet"
    return VERDICT_WORDS.get(verdict, verdict)


def confidence_word(confidence: str) -> str:
    return CONFIDENCE_WORDS.get(confidence, confidence)


# A headline is one sentence of at most this many words (issue 11).
HEADLINE_MAX_WORDS = 25

# Expert words a reader's text never uses (they stay in the expert explanation, folded beneath).
BANNED_TERMS: tuple[str, ...] = ("AUC", "calibrated", "held-out", "cycles/pixel", "residual", "docs/", "P(AI)",
                                 "threshold", "logit")

# What the one number beside a verdict (Reading.figure) is, by what produced it.
FIGURE_LABELS: dict[str, str] = {
    "signal": "pixel-pattern AI likeness (0 camera-like, 1 AI-like)",
    "model": "the vision-language model's own probability that the image is AI-generated",
}


def ranking_score_words(score: float) -> str:
    """The analysis score as the expert detail names it, on the page and in the CLI alike: it is not
    the card's figure (FIGURE_LABELS), so it is never printed as a bare "score" beside it."""
    return (f"ranking score {score:.2f} (all the evidence together, 0 = camera-like to 1 = AI-like; "
            "a ranking aid, not a probability)")


# Short definitions, one source for the page, the CLI and the report's glossary box.
TERMS: dict[str, str] = {
    "AI-generated": "The tool found evidence that the image, or part of it, was made or altered by an AI generator.",
    "Likely real": "The evidence points to a camera photo; this does not prove the scene was not staged or edited.",
    "Can't tell": "Nothing found is strong enough to decide either way. The tool says so rather than guess.",
    "Confidence": "How the verdict was reached: decided by provenance (a signed record in the file), strong (the "
                  "file's own generation record or watermark), weak (pixel patterns or a model's judgement alone), "
                  "or not enough to decide.",
    "Score": "A number from 0 to 1 shown beside the verdict: how AI-like the evidence it names is. It is not the "
             "chance that the verdict is right, and no number is shown when a file record decides.",
    "Content Credentials": "A signed record (C2PA) embedded in the file saying which camera or software made it "
                           "and what was done to it. It can be stripped, but not changed without breaking the "
                           "signature.",
    "Signature intact": "The file is exactly as it was when the Content Credentials were signed.",
    "Trusted signer": "A signer whose certificate is on the trust list you set up. Anyone can sign; only a "
                      "trusted signer tells you who did.",
    "Generation recipe": "The settings an AI tool wrote into the file: the prompt, the model, the sampler, the "
                         "seed. They can be copied, but they are rarely found on a real photo.",
    "Watermark": "An invisible pattern some AI tools hide in the pixels. Finding one is strong evidence; finding "
                 "none proves nothing, since most tools embed none and re-saving removes it.",
    "Camera metadata": "Camera settings (maker, exposure, time) stored in the file. Easily copied or forged, so "
                       "it only weakly supports a real photo.",
    "Signal evidence": "What the pixels themselves show: noise, sharpness, compression and repeating patterns, "
                       "compared with the rest of the image and with real photos. Weak evidence on its own.",
    "Pixel-pattern model": "A model trained on camera photos and AI images that rates how AI-like the pixels "
                           "look. It is often wrong on generators it never saw, so it decides only when clear.",
    "Vision-language model": "An AI model that looks at the image and answers in words. Its verdict is an "
                             "opinion, not a measurement.",
    "Region": "An area of the image that stands out from the rest and is worth a closer look; a place to look, "
              "not a verdict.",
}


def terms_for(analysis) -> dict[str, str]:
    """The glossary entries an analysis' reader needs, in TERMS order."""
    wanted = {"Confidence", verdict_word(analysis.verdict)}
    reading = getattr(analysis, "reading", None)
    if reading is not None and reading.figure is not None:
        wanted.add("Score")
    if reading is not None and reading.recipe:
        wanted.add("Generation recipe")
    for item in analysis.evidence:
        if item.source == "c2pa":
            wanted |= {"Content Credentials", "Signature intact", "Trusted signer"}
        elif item.kind == "watermark":
            wanted.add("Watermark")
        elif item.kind == "metadata" and item.source == CAMERA_SOURCE:
            wanted.add("Camera metadata")
        elif item.source == "signal-model":
            wanted |= {"Signal evidence", "Pixel-pattern model"}
        elif item.kind == "model":
            wanted.add("Vision-language model")
    if analysis.regions:
        wanted.add("Region")
    return {term: text for term, text in TERMS.items() if term in wanted}
