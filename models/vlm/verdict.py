"""From the model's answer (and the evidence engine's findings) to one verdict,
one score and the reason.

Rules (docs/vlm-backend.md):

1. The model's `<verdict>generated</verdict>` reads "ai-generated", `real`
   reads "real".  No readable verdict gives "inconclusive", and the
   explanation says the answer could not be parsed: a parse failure is never
   turned into a verdict.
2. The score is P(generated) measured from the model's own token
   probabilities at the verdict word, renormalised over the two answers,
   where the backend can see them (local: always; remote: when the server
   returns logprobs).  Otherwise it is a fixed stand-in, FIXED_SCORES, and the
   explanation and provenance say that no probability was available.
3. Decisive file evidence from the evidence engine (a valid C2PA declaration
   of an AI source, a Stable Diffusion watermark beyond chance, generator
   metadata; or a trusted camera credential) overrides the model, as it does
   in the evidence engine, and the explanation states both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.types import Evidence, Verdict
from models.vlm.conversation import TokenStep
from models.vlm.parsing import ExamineParse

FIXED_SCORES: dict[str | None, float] = {"ai-generated": 0.75, "real": 0.25, None: 0.5}
"""Stand-in scores when no token probability is available: halfway between
undecided (0.5) and certain, in the direction of the model's word.  They are
a display convention, not a measurement."""

VERDICT_WORDS = {"ai-generated": "generated", "real": "real"}
SCORE_FLOOR, SCORE_CEILING = 0.01, 0.99
REASONING_SHOWN = 600


@dataclass(frozen=True)
class VerdictProbability:
    p_generated: float
    mass: float | None   # the probability the two answers got together at that step (None: unknown)
    method: str


@dataclass(frozen=True)
class ModelVerdict:
    verdict: Verdict
    score: float
    score_source: str
    explanation: str


def verdict_probability(tokens: Sequence[TokenStep] | None, verdict_start: int | None, text: str
                        ) -> tuple[VerdictProbability | None, str]:
    """P(generated) at the token where the verdict word starts, and how it was
    obtained (or why it could not be)."""
    if tokens is None:
        return None, "the backend returned no token probabilities"
    if verdict_start is None:
        return None, "no verdict word"
    covering = [t for t in tokens if t.start <= verdict_start]
    step = covering[-1] if covering else None
    # The word's first token may carry the space before it, never other text.
    if step is None or text[step.start:verdict_start].strip():
        return None, "the verdict word does not start a token (it was merged with the text before it)"
    generated, real = step.candidates.get("ai-generated"), step.candidates.get("real")
    if generated is not None and real is not None:
        p_gen, p_real = math.exp(generated), math.exp(real)
        total = p_gen + p_real
        if total <= 0:
            return None, "both answers had zero probability"
        return VerdictProbability(p_gen / total, total, "verdict token probabilities, renormalised over "
                                                        "'generated' and 'real'"), "measured"
    if generated is not None:
        return VerdictProbability(math.exp(generated), None, "probability of 'generated' at the verdict token "
                                  "('real' was not among the alternatives returned)"), "measured"
    if real is not None:
        return VerdictProbability(1.0 - math.exp(real), None, "one minus the probability of 'real' at the verdict "
                                  "token ('generated' was not among the alternatives returned)"), "measured"
    return None, "neither answer was among the token alternatives returned"


def model_verdict(parsed: ExamineParse, probability: VerdictProbability | None, why_no_probability: str,
                  model_name: str) -> ModelVerdict:
    """Rules 1 and 2: the model's own verdict and score."""
    reasoning = parsed.reasoning[:REASONING_SHOWN] + ("…" if len(parsed.reasoning) > REASONING_SHOWN else "")
    if parsed.verdict is None:
        return ModelVerdict("inconclusive", FIXED_SCORES[None], "none: no verdict could be read",
                            f"Inconclusive: {parsed.problem}; the raw output is kept in raw_output.")
    word = VERDICT_WORDS[parsed.verdict]
    if probability is not None:
        score = min(SCORE_CEILING, max(SCORE_FLOOR, probability.p_generated))
        mass = f", the two answers together {probability.mass:.2f}" if probability.mass is not None else ""
        source = f"measured: {probability.method}"
        how = f"P(generated) = {probability.p_generated:.3f} from the model's token probabilities{mass}"
    else:
        score = FIXED_SCORES[parsed.verdict]
        source = f"fixed stand-in ({why_no_probability}); not a measurement"
        how = (f"no token probability was available ({why_no_probability}); the score {score:.2f} is a fixed "
               f"stand-in for the word '{word}', not a measured probability")
    lead = "AI-generated" if parsed.verdict == "ai-generated" else "Real"
    text = f"{lead}, according to the vision-language model {model_name} ({how})."
    if reasoning:
        text += f" Its reasoning: {reasoning}"
    return ModelVerdict(parsed.verdict, score, source, text)


def fuse_with_evidence(model: ModelVerdict, evidence: Sequence[Evidence]) -> tuple[Verdict, float, str, str]:
    """Rule 3: (verdict, score, explanation, which rule decided)."""
    decisive_ai = sorted((e for e in evidence if e.decisive and e.supports == "ai-generated"),
                         key=lambda e: e.strength, reverse=True)
    decisive_real = sorted((e for e in evidence if e.decisive and e.supports == "real"),
                           key=lambda e: e.strength, reverse=True)
    if decisive_ai:
        lead = decisive_ai[0]
        text = (f"AI-generated, decided by {lead.kind} evidence: {lead.finding.rstrip('.')}. "
                f"{_model_said(model, 'ai-generated')}")
        if decisive_real:
            text += (f" Conflicting {decisive_real[0].kind} evidence: {decisive_real[0].finding.rstrip('.')} "
                     "(perhaps a camera original later edited with AI).")
        return "ai-generated", max(model.score, min(SCORE_CEILING, lead.strength)), text, "decisive-evidence"
    if decisive_real:
        lead = decisive_real[0]
        text = f"Real, decided by {lead.kind} evidence: {lead.finding.rstrip('.')}. {_model_said(model, 'real')}"
        return "real", min(model.score, max(SCORE_FLOOR, 1.0 - lead.strength)), text, "decisive-evidence"
    return model.verdict, model.score, model.explanation, "model"


def _model_said(model: ModelVerdict, decided: Verdict) -> str:
    if model.verdict == "inconclusive":
        return f"The vision-language model gave no usable verdict. {model.explanation}"
    agreement = "agrees" if model.verdict == decided else "disagrees, overridden by the file evidence"
    return f"The vision-language model {agreement}: {model.explanation}"
