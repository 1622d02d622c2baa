"""The analysis in plain words: one headline a reader can act on, its basis,
its limits, a confidence from the fixed scale and the one number beside it.

read_analysis works from the typed Analysis alone (verdict, evidence,
regions, backend), so it serves every backend and any stored analysis.  It
never decides anything: the verdict is the detector's, and the words only
say which evidence made it.  The number shown (Reading.figure) is the one the
words describe: none when a file record decides; the pixel model's
AI-likeness when the pixels are what is discussed; the vision-language
model's own probability when it decides and the backend measured one.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.evidence.credentials_words import (
    credentials_lines,
    credentials_phrase,
    is_credentials,
    short_name,
    tampered,
)
from models.evidence.delivery import delivery_limit, delivery_reason, delivery_short
from models.evidence.examine import NOTABLE_SCORE
from models.evidence.finding_words import evidence_phrase, file_limits, plain_finding, record_word
from models.evidence.recipe import generation_recipe
from models.evidence.topics import CAMERA_SOURCE
from models.glossary import FIGURE_LABELS, HEADLINE_MAX_WORDS, verdict_word
from models.region_words import as_sentence as _sentence
from models.region_words import first_sentence as _first_sentence
from models.region_words import region_line
from models.types import Analysis, Evidence, Reading, Region

__all__ = ["read_analysis", "region_line"]

MAX_KEY_POINTS = 5
SETTLE = ("the original file from the source (with its Content Credentials or camera metadata), or a second look "
          "with the vision-language backend")


@dataclass
class _Facts:
    """The evidence a reading talks about, picked out of one analysis."""

    analysis: Analysis
    decisive_ai: list[Evidence]
    decisive_real: list[Evidence]
    signal: Evidence | None
    model: Evidence | None
    camera: Evidence | None
    credentials: Evidence | None
    standing_out: list[Region]

    @classmethod
    def of(cls, analysis: Analysis) -> "_Facts":
        items = analysis.evidence
        strongest = lambda side: sorted((e for e in items if e.decisive and e.supports == side),  # noqa: E731
                                        key=lambda e: e.strength, reverse=True)
        return cls(
            analysis, strongest("ai-generated"), strongest("real"),
            next((e for e in items if e.source == "signal-model"), None),
            next((e for e in items if e.kind == "model"), None),
            next((e for e in items if e.source == CAMERA_SOURCE and e.supports == "real"
                  and not e.details.get("contradicted")), None),
            next((e for e in items if e.source == "c2pa" and is_credentials(e.details)), None),
            [r for r in analysis.regions if _stands_out(r)])

    @property
    def model_decided(self) -> bool:
        return self.model is not None and not self.decisive_ai and not self.decisive_real

    @property
    def model_name(self) -> str:
        """The model's id ('Qwen/Qwen2.5-VL-7B-Instruct'); for weights loaded from a folder, the
        folder's own name, never the path it was installed at."""
        source = self.model.source if self.model else ""
        name = source.split(":", 1)[1].strip() if ":" in source else ""
        if name.startswith(("/", "~", ".")) or "\\" in name or name.count("/") > 1:
            name = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        return short_name(name) if name else "the vision-language model"


def read_analysis(analysis: Analysis) -> Reading:
    """The plain reading of one analysis (never raises on a well-formed Analysis)."""
    facts = _Facts.of(analysis)
    if analysis.verdict == "ai-generated" and facts.decisive_ai:
        reading = _decided_by_file(facts, facts.decisive_ai[0])
    elif analysis.verdict == "real" and facts.decisive_real:
        reading = _decided_by_file(facts, facts.decisive_real[0])
    elif analysis.verdict != "inconclusive" and facts.model_decided:
        reading = _decided_by_model(facts)
    elif analysis.verdict != "inconclusive" and facts.signal is not None:
        reading = _decided_by_pixels(facts)
    elif analysis.verdict != "inconclusive":
        reading = _decided_by_backend(facts)
    else:
        reading = _undecided(facts)
    reading.key_points = _key_points(facts, reading.basis)
    reading.recipe = generation_recipe(analysis.evidence)
    return reading


# ---------------------------------------------------------------------- the four ways a verdict is reached

def _decided_by_file(facts: _Facts, lead: Evidence) -> Reading:
    word = verdict_word(facts.analysis.verdict)
    what = evidence_phrase(lead)
    headline = f"{word}: {what}."
    conflict = facts.decisive_real if lead.supports == "ai-generated" else []
    basis = _sentence(what)
    if conflict:
        basis += (f" The file also holds a camera record ({evidence_phrase(conflict[0])}): perhaps a camera "
                  "original that was later edited or extended with AI.")
    return Reading(headline=_fit(headline, f"{word}: decided by the file's own {record_word(lead)}."),
                   basis=basis, limits=file_limits(lead),
                   confidence="provenance" if lead.kind == "provenance" else "strong")


def _decided_by_model(facts: _Facts) -> Reading:
    word, name = verdict_word(facts.analysis.verdict), facts.model_name
    headline = f"{word}, in the judgement of the vision-language model {name}; no file record decides."
    reasoning = str(facts.model.details.get("reasoning") or "") if facts.model else ""
    judged = "AI-generated" if facts.analysis.verdict == "ai-generated" else "real"
    basis = f"The vision-language model {name} judged the image {judged}."
    if reasoning:
        basis += f" Its reasons: {_first_sentence(reasoning)}"
    measured = str(facts.model.details.get("score_source", "")).startswith("measured") if facts.model else False
    probability = facts.model.details.get("p_generated") if facts.model else None
    figure = float(probability) if measured and probability is not None else None
    return Reading(headline=_fit(headline, f"{word}, in the vision-language model's judgement."), basis=basis,
                   limits=("A vision-language model's judgement is an opinion, not a measurement; "
                           "the original file from the source would settle it."),
                   confidence="weak", figure=figure, figure_label=FIGURE_LABELS["model"] if figure is not None else "")


def _decided_by_pixels(facts: _Facts) -> Reading:
    word, ai = verdict_word(facts.analysis.verdict), facts.analysis.verdict == "ai-generated"
    looks = "AI-like" if ai else "typical of camera photos"
    headline = (f"{word}, on pixel patterns alone: the pattern model finds the image {looks}; "
                "no file record confirms it.")
    if facts.credentials is not None and tampered(facts.credentials.details):
        headline = headline[:-1] + "; the file was altered after it was signed."
    basis = (f"The pixel-pattern model, trained on camera photos and AI images, finds this image {looks}, "
             "clearly enough to decide on its own. No Content Credentials, generator settings or watermark decide.")
    if facts.camera is not None and not ai:
        basis += f" {_sentence(evidence_phrase(facts.camera))}"
    return Reading(headline=_fit(headline, f"{word}, on pixel patterns alone."), basis=basis,
                   limits=("Pixel patterns are weak evidence on their own and often wrong on generators the model "
                           f"never saw; what would settle it: {_settle(facts)}."),
                   confidence="weak", **_signal_figure(facts))


def _decided_by_backend(facts: _Facts) -> Reading:
    word, backend = verdict_word(facts.analysis.verdict), facts.analysis.backend
    return Reading(headline=_fit(f"{word}, in the judgement of the {backend} backend; no file record decides.",
                                 f"{word}, in the judgement of the {_short(backend, 3)} backend."),
                   basis=f"The {backend} backend judged the image {word.lower()}; no file record decides.",
                   limits=f"No file record confirms it; what would settle it: {_settle(facts)}.", confidence="weak")


def _undecided(facts: _Facts) -> Reading:
    file_part = _file_part(facts)
    pixels, few_words = _pixel_part(facts)
    headline = _fit(f"Can't tell: {file_part}, and {pixels}.", f"Can't tell: {file_part}, and {few_words}.",
                    f"Can't tell: {file_part}.", "Can't tell: nothing found decides either way.")
    delivery = delivery_limit(facts.analysis.evidence)
    why_not = f" {_sentence(delivery_reason(delivery))}" if delivery is not None else ""
    return Reading(headline=headline, basis=_sentence(f"{file_part}; {pixels}"),
                   limits=f"Nothing found settles it.{why_not} What would settle it: {_settle(facts)}.",
                   confidence="not-enough", **(_signal_figure(facts) if facts.model is None else {}))


# ---------------------------------------------------------------------- parts of the words

def _file_part(facts: _Facts) -> str:
    if facts.credentials is not None:
        return credentials_phrase(facts.credentials.details)
    if facts.camera is not None:
        return evidence_phrase(facts.camera)
    weak_ai = next((e for e in facts.analysis.evidence if e.kind == "metadata" and e.supports == "ai-generated"), None)
    if weak_ai is not None and weak_ai.source.startswith("aigc:"):
        return f"China's AI-content label calls it {weak_ai.details.get('label_meaning') or 'of an unknown kind'}"
    if weak_ai is not None:
        return "the metadata hints at an AI tool but does not show generation"
    return "the file holds no record of where it came from"


def _pixel_part(facts: _Facts) -> tuple[str, str]:
    """What the pixels (or the vision-language model) said, in full and in few words."""
    if facts.model is not None:
        if facts.model.supports == "neither":
            return "the vision-language model gave no usable verdict", "the model gave no verdict"
        leans = "AI" if facts.model.supports == "ai-generated" else "real"
        return f"the vision-language model leans {leans}, too weakly to decide", f"the model leans {leans}"
    signal = facts.signal
    if signal is None:
        return "no pixel analysis was possible", "no pixel analysis"
    if signal.details.get("too_small"):
        return "the image is too small for pixel analysis", "it is too small to analyse"
    if signal.supports == "real" and facts.standing_out:
        named = ", ".join(r.id or "one area" for r in facts.standing_out[:3])
        verb = "stands" if len(facts.standing_out) == 1 else "stand"
        return f"the pixel analysis leans real but area {named} {verb} out", f"area {named} {verb} out"
    delivery = delivery_limit(facts.analysis.evidence)
    if delivery is not None and signal.supports in ("ai-generated", "real"):
        leans = "AI" if signal.supports == "ai-generated" else "real"
        return (f"the pixel analysis leans {leans}, but {delivery_short(delivery)}",
                f"the pixels lean {leans}, but {delivery_short(delivery)}")
    if delivery is not None:
        return f"the pixel analysis cannot judge it: {delivery_short(delivery)}", delivery_short(delivery)
    if signal.supports == "ai-generated":
        return "the pixel analysis leans AI, too weakly to overrule that", "the pixels lean AI, weakly"
    if signal.supports == "real":
        return "the pixel analysis leans real, too weakly to decide", "the pixels lean real, weakly"
    return "the pixel analysis is not reliable enough to decide", "the pixels cannot decide"


def _signal_figure(facts: _Facts) -> dict:
    signal = facts.signal
    if signal is None or signal.details.get("too_small") or signal.details.get("probability") is None:
        return {}
    if delivery_limit(facts.analysis.evidence) is not None and signal.supports not in ("ai-generated", "real"):
        # The words say the pixel analysis cannot judge the file as delivered (too compressed, a
        # screen capture): a 0.02 beside them would read as "camera-like" (the expert detail keeps it).
        return {}
    return {"figure": float(signal.details["probability"]), "figure_label": FIGURE_LABELS["signal"]}


def _key_points(facts: _Facts, basis: str) -> list[str]:
    """3-5 bullets, most telling first: the basis, the credentials, the recipe, the
    camera, the pixels or the model, the area that stands out, then what was absent."""
    evidence = facts.analysis.evidence
    points = [basis]
    if facts.credentials is not None:
        lines = credentials_lines(facts.credentials.details)
        points += [" ".join(lines[:2]), " ".join(lines[2:])]
    recipe = generation_recipe(evidence)
    if recipe:
        shown = [f"{k.lower()} {recipe[k]}" for k in ("Model", "Sampler", "Seed") if k in recipe]
        points.append("Generation settings recovered from the file" + (f": {'; '.join(shown)}." if shown else "."))
    points += [plain_finding(e) for e in evidence if e.kind == "metadata" and e.supports == "ai-generated"
               and not e.decisive]
    if facts.camera is not None and evidence_phrase(facts.camera).lower() not in basis.lower():
        points.append(_sentence(evidence_phrase(facts.camera)))
    pixels = _pixel_point(facts)
    if pixels and "pixel" not in basis.lower():
        points.append(pixels)
    if facts.model is not None and not (facts.model_decided and facts.analysis.verdict != "inconclusive"):
        points.append(_model_point(facts))
    if facts.standing_out:
        region = facts.standing_out[0]
        more = f" ({len(facts.standing_out)} areas in all)" if len(facts.standing_out) > 1 else ""
        line = region_line(region)
        points.append(f"Area {region.id or '1'}{more}: {line[0].lower()}{line[1:]}")
    elif facts.analysis.regions:
        points.append("No area of the image stands out from the rest.")
    if facts.credentials is None:
        points.append("The file carries no Content Credentials (no signed record of its origin).")
    if not any(e.kind == "metadata" and e.supports == "ai-generated" for e in evidence):
        points.append("The file's metadata holds no AI generation settings.")
    points += [plain_finding(e) for e in evidence if e.kind == "watermark" and not e.decisive]
    if facts.signal is None and facts.model is None and "pixel" not in basis.lower():
        points.append("No pixel analysis was possible for this image.")
    unique = list(dict.fromkeys(p for p in points if p))
    return unique[:MAX_KEY_POINTS]


def _settle(facts: _Facts) -> str:
    if facts.model is not None:
        return "the original file from the source, with its Content Credentials or camera metadata"
    return SETTLE


def _pixel_point(facts: _Facts) -> str:
    figure = _signal_figure(facts).get("figure")
    if figure is None:
        return ""
    leaning = {"ai-generated": "lean AI", "real": "lean real"}.get(facts.signal.supports, "do not decide")
    return f"Pixel patterns {leaning}: {figure:.2f} on the 0 (camera-like) to 1 (AI-like) scale."


def _model_point(facts: _Facts) -> str:
    model = facts.model
    if model is None or model.supports == "neither":
        return ("The vision-language model's answer could not be read, so it decides nothing; its full text is "
                "kept with the analysis.")
    said = "AI-generated" if model.supports == "ai-generated" else "real"
    overruled = " The file's own record outweighs it." if facts.decisive_ai or facts.decisive_real else ""
    return f"The vision-language model {facts.model_name} judged it {said}.{overruled}"


def _stands_out(region: Region) -> bool:
    """As fusion counts it (more unusual than NOTABLE_SCORE of the real photos measured),
    or flagged by a vision-language model's look at it."""
    return (region.score >= NOTABLE_SCORE and region.label != "no clear anomaly") or any(
        e.kind == "model" and e.source.endswith(":examine") and e.supports == "ai-generated" for e in region.evidence)


def _fit(*headlines: str) -> str:
    """The first (fullest) headline within the word limit; the last is the shortest."""
    return next((h for h in headlines if _words(h) <= HEADLINE_MAX_WORDS), headlines[-1])


def _words(text: str) -> int:
    return len(text.split())


def _short(text: str, words: int = 6) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")

