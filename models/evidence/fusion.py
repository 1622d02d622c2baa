"""Fusion: from evidence items to one verdict, one score and the reason.

Rules, in order (docs/evidence-engine.md gives the reasoning):

1. Decisive evidence pointing to AI (valid Content Credentials declaring an
   AI source, a Stable Diffusion watermark beyond chance, generator metadata)
   decides `ai-generated`; its strength is the score.  A decisive camera
   credential alongside it is reported as a conflict (a camera original edited
   with AI), not as a reason to doubt the AI finding.
2. Otherwise decisive evidence pointing to a real capture (a trusted,
   valid camera credential) decides `real`.
3. Otherwise the learned signal model decides only where its score passed the
   thresholds whose precision was measured; anything else is `inconclusive`.
   A region that stands out (more unusual than 90% of real photos measured)
   keeps a `real` call from being made, and file evidence of a camera capture
   (intact camera EXIF, a camera claim in untrusted Content Credentials) keeps
   an `ai-generated` call from being made: weak pixel evidence never accuses
   a file that says it came from a camera.  Content Credentials that no longer
   match the file (altered after signing) keep a `real` call from being made;
   intact ones recording a history without AI (drawing, editing) keep a weak
   `ai-generated` call from being made.  Nor is a pixel-only call made
   where the image as delivered cannot carry one (models.evidence.delivery:
   too small, heavily compressed, a screen capture, or a call that flips or
   falls back under re-compression, resizing or cropping); the reason is given.
4. A provenance finding that does not decide (Content Credentials that record
   edits only, are unverified, or fail validation) is named in the verdict
   text, because a reader weighs it before anything else.

The score outside rule 1/2 adds, in log-odds, the signal model's calibrated
probability, weak evidence (camera metadata, unverified credentials) at
LOG_ODDS_PER_STRENGTH per unit of strength, and up to REGION_LOG_ODDS for the
most unusual region.  These weights are design choices, not measurements,
and the score is therefore a ranking aid; the verdict rules above are what the
measured precision supports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.evidence.delivery import delivery_limit, delivery_reason
from models.evidence.examine import NOTABLE_SCORE
from models.types import Evidence, Region, Verdict

LOG_ODDS_PER_STRENGTH = 2.0
REGION_LOG_ODDS = 2.0
SCORE_FLOOR, SCORE_CEILING = 0.01, 0.99


@dataclass
class Fusion:
    verdict: Verdict
    score: float
    explanation: str


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".") if text else ""


def fuse(evidence: list[Evidence], regions: list[Region]) -> Fusion:
    decisive_ai = sorted((e for e in evidence if e.decisive and e.supports == "ai-generated"),
                         key=lambda e: e.strength, reverse=True)
    decisive_real = sorted((e for e in evidence if e.decisive and e.supports == "real"),
                           key=lambda e: e.strength, reverse=True)
    signal = next((e for e in evidence if e.source == "signal-model"), None)
    standing_out = [r for r in regions if r.score >= NOTABLE_SCORE and r.label != "no clear anomaly"]
    region_text = _region_summary(standing_out)

    if decisive_ai:
        lead = decisive_ai[0]
        parts = [f"AI-generated, decided by {lead.kind} evidence: {lead.finding}"]
        parts += [f"Also: {e.finding}" for e in decisive_ai[1:]]
        if decisive_real:
            parts.append(f"Conflicting {decisive_real[0].kind} evidence: {decisive_real[0].finding} — the picture "
                         "may be a camera original that was later edited or extended with AI")
        parts.append(region_text)
        return Fusion("ai-generated", max(SCORE_FLOOR, min(SCORE_CEILING, lead.strength)), _join(parts))

    if decisive_real:
        lead = decisive_real[0]
        parts = [f"Real, decided by {lead.kind} evidence: {lead.finding}", region_text]
        return Fusion("real", max(SCORE_FLOOR, 1.0 - lead.strength), _join(parts))

    score = _signal_score(evidence, signal, standing_out)
    weak = [e for e in evidence if e is not signal and e.supports != "neither" and e.strength > 0]
    weak_text = [f"{'Weakly supports a real photo' if e.supports == 'real' else 'Weakly supports AI'}: {e.finding}"
                 for e in weak]
    undecided = _undecided_provenance(evidence)
    camera = next((e for e in evidence if e.kind in ("metadata", "provenance") and e.supports == "real"
                   and not e.details.get("contradicted")), None)
    delivery = delivery_limit(evidence)
    # Content Credentials that fail a hash or signature check: the file changed after signing.
    altered = next((e for e in evidence if e.kind == "provenance" and e.details.get("tampered")), None)
    # Valid Content Credentials whose recorded history (drawing, editing) uses no AI.
    no_ai_record = next((e for e in evidence if e.kind == "provenance" and e.details.get("records_no_ai")), None)
    if signal is None:
        lead = f"Inconclusive: {undecided}, and no learned signal score is available"
        return Fusion("inconclusive", score, _join([lead, *_not_in(weak_text, lead), region_text]))
    if signal.supports == "ai-generated" and camera is not None:
        verdict, lead = "inconclusive", (f"Inconclusive: the learned model leans AI ({signal.finding}), but the "
                                         f"file's {camera.kind} evidence points to a camera capture, and weak signal "
                                         "evidence does not overrule it")
    elif signal.supports == "real" and altered is not None:
        verdict, lead = "inconclusive", (f"Inconclusive: the learned model leans real ({signal.finding}), but the "
                                         "file was altered after it was signed (its Content Credentials no longer "
                                         "match it), so it is not called real")
    elif signal.supports == "ai-generated" and no_ai_record is not None:
        verdict, lead = "inconclusive", (f"Inconclusive: the learned model leans AI ({signal.finding}), but the "
                                         "file's intact Content Credentials record how it was made (drawn or edited) "
                                         "without AI, and weak signal evidence does not overrule them")
    elif signal.supports != "neither" and delivery is not None:
        leans = "AI" if signal.supports == "ai-generated" else "real"
        verdict, lead = "inconclusive", (f"Inconclusive: the learned model leans {leans} ({signal.finding}), but "
                                         f"{delivery_reason(delivery)}, so no call is made on pixels alone")
    elif signal.supports == "ai-generated":
        verdict, lead = "ai-generated", f"AI-generated, on signal evidence alone: {signal.finding}"
    elif signal.supports == "real" and not standing_out:
        verdict, lead = "real", f"Real, on signal evidence alone: {signal.finding}"
    elif signal.supports == "real":
        verdict, lead = "inconclusive", (f"Inconclusive: the learned model leans real ({signal.finding}), "
                                         "but a region stands out from the rest of the image")
    else:
        verdict, lead = "inconclusive", (f"Inconclusive: {undecided}, and the signal evidence is weak. "
                                         f"{_sentence(signal.finding)}")
    limits = [f"Also: {delivery_reason(delivery)}"] if delivery is not None and delivery_reason(delivery) not in lead \
        else []
    return Fusion(verdict, score, _join([lead, *_not_in(weak_text, lead), *limits, region_text]))


def _not_in(texts: list[str], lead: str) -> list[str]:
    """The weak findings the lead does not already quote."""
    return [t for t in texts if t.split(": ", 1)[1].rstrip(".") not in lead]


def _undecided_provenance(evidence: list[Evidence]) -> str:
    """The provenance part of an open verdict: the Content Credentials found, if
    any, else that nothing in the file decides."""
    credentials = next((e for e in evidence if e.kind == "provenance"), None)
    if credentials is None:
        return "no provenance, metadata or watermark decides"
    return f"the file's provenance does not decide ({credentials.finding.rstrip('.')})"


def _signal_score(evidence: list[Evidence], signal: Evidence | None, standing_out: list[Region]) -> float:
    probability = signal.details.get("probability", 0.5) if signal else 0.5
    log_odds = _logit(float(probability))
    for item in evidence:
        if item is signal or item.decisive or item.supports == "neither":
            continue
        sign = 1.0 if item.supports == "ai-generated" else -1.0
        log_odds += sign * LOG_ODDS_PER_STRENGTH * item.strength
    if standing_out:
        excess = (max(r.score for r in standing_out) - NOTABLE_SCORE) / (1.0 - NOTABLE_SCORE)
        log_odds += REGION_LOG_ODDS * min(1.0, max(0.0, excess))
    return max(SCORE_FLOOR, min(SCORE_CEILING, _sigmoid(log_odds)))


def _region_summary(standing_out: list[Region]) -> str:
    if not standing_out:
        return ""
    named = ", ".join(f"{r.id or 'region'} ({r.label}, score {r.score:.2f})" for r in standing_out[:3])
    return (f"{len(standing_out)} region(s) stand out from the rest of the image: {named}; a local anomaly "
            "can come from AI inpainting or from ordinary editing, so it is shown as a place to look, not a verdict")


def _join(parts: list[str]) -> str:
    return " ".join(_sentence(p) for p in parts if p)
