"""Evaluation of the signal model: how well it does on images it was not fitted on.

Grouped cross-validation by dup_group and leave-one-source-out folds
(grouped_cv, leave_one_source_out, on a caller-given fit function), scoring
(predict, Predictions), AUC, the choice of decision thresholds at a minimum
precision (choose_thresholds, calls_at_thresholds), the evaluation tables
(overall, per generator, per source), the container probe (AI images re-saved
as JPEG) and the Markdown training report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from models.evidence.dev_manifest import ManifestEntry
from models.evidence.signal_samples import LAUNDER_QUALITY, Sample

if TYPE_CHECKING:
    from models.evidence.train_signal import FittedPair

MIN_PRECISION = 0.95
MIN_CALLS = 10  # a threshold needs this many calls behind it, or one lucky image would set it


@dataclass
class Predictions:
    entries: list[ManifestEntry]
    p: np.ndarray             # calibrated image P(AI); NaN where no fold could score it
    tile_p: np.ndarray
    tile_y: np.ndarray
    laundered_p: np.ndarray   # P(AI) of the JPEG re-saved copy (AI training images), else NaN
    notes: list[str] = field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        return np.array([e.label for e in self.entries])


def predict(fitted: FittedPair, samples: list[Sample]) -> Predictions:
    p = fitted.image.probability(np.stack([s.image for s in samples]))
    tile_p = fitted.tile.probability(np.concatenate([s.tiles for s in samples]))
    tile_y = np.concatenate([[s.entry.label] * len(s.tiles) for s in samples])
    laundered = np.array([fitted.image.probability(s.laundered[None])[0] if s.laundered is not None else np.nan
                          for s in samples])
    return Predictions([s.entry for s in samples], p, tile_p, tile_y, laundered)


def _concat(parts: list[Predictions], order: list[int], notes: list[str]) -> Predictions:
    """Fold predictions back into the pool's order."""
    entries = [e for part in parts for e in part.entries]
    back = np.argsort(order)
    cat = lambda name: np.concatenate([getattr(part, name) for part in parts])
    return Predictions([entries[i] for i in back], cat("p")[back], cat("tile_p"), cat("tile_y"),
                       cat("laundered_p")[back], notes)


Fit = Callable[[list[Sample]], "FittedPair"]


def _held_out_folds(samples: list[Sample], folds: list[tuple[str, np.ndarray]], fit: Fit) -> Predictions:
    """Fit on everything outside each fold, score the fold."""
    parts, order, notes = [], [], []
    for name, test in tqdm(folds, desc="folds", leave=False, disable=None):
        test_set = set(test.tolist())
        train = [s for i, s in enumerate(samples) if i not in test_set]
        tests = [samples[i] for i in test]
        if len({s.entry.label for s in train}) < 2:
            notes.append(f"{name}: not scored (its training side holds one class only)")
            nan = np.full(len(tests), np.nan)
            parts.append(Predictions([s.entry for s in tests], nan, np.zeros(0), np.zeros(0), nan.copy()))
        else:
            parts.append(predict(fit(train), tests))
        order += list(test)
    return _concat(parts, order, notes)


def grouped_cv(samples: list[Sample], fit: Fit) -> Predictions:
    from sklearn.model_selection import GroupKFold

    groups = np.array([s.entry.group for s in samples])
    n_splits = min(5, len(set(groups)))
    if n_splits < 2:
        raise ValueError("grouped cross-validation needs at least two dup_groups")
    splits = GroupKFold(n_splits).split(np.zeros(len(samples)), groups=groups)
    folds = [(f"fold {k + 1}", test) for k, (_, test) in enumerate(splits)]
    return _held_out_folds(samples, folds, fit)


def leave_one_source_out(samples: list[Sample], fit: Fit) -> Predictions:
    sources = np.array([s.entry.source for s in samples])
    folds = [(src, np.flatnonzero(sources == src)) for src in sorted(set(sources))]
    return _held_out_folds(samples, folds, fit)


def _auc(p: np.ndarray, y: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    keep = ~np.isnan(p)
    if len(set(y[keep].tolist())) < 2:
        return None
    return round(float(roc_auc_score(y[keep], p[keep])), 4)


def _side_stats(called: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    """Precision (as measured, and re-weighted to even class prevalence), recall, calls."""
    n, tp = int(called.sum()), int((called & positive).sum())
    fp, n_pos, n_neg = n - tp, int(positive.sum()), int((~positive).sum())
    tpr, fpr = tp / max(n_pos, 1), fp / max(n_neg, 1)
    z = 1.96  # Wilson lower bound: how low the precision could be, given so few calls
    centre, half = (tp + z * z / 2) / (n + z * z), z * np.sqrt(tp * fp / max(n, 1) + z * z / 4) / (n + z * z)
    return {"precision": round(tp / n, 4) if n else None,
            "precision_balanced": round(tpr / (tpr + fpr), 4) if tpr + fpr > 0 else None,
            "precision_wilson_low": round(centre - half, 4) if n else None,
            "recall": round(tpr, 4), "n_called": n, "n_class": n_pos}


def _pick_threshold(p: np.ndarray, ai: np.ndarray, side: str) -> float | None:
    """ai side: the lowest t with precision >= MIN_PRECISION (as measured and at
    even prevalence) among P >= t; real side: the highest t, among P <= t."""
    def passes(t: float) -> bool:
        stats = _side_stats(p >= t, ai) if side == "ai" else _side_stats(p <= t, ~ai)
        return stats["n_called"] >= MIN_CALLS and stats["precision"] >= MIN_PRECISION \
            and (stats["precision_balanced"] or 0) >= MIN_PRECISION

    good = [float(t) for t in np.unique(p) if passes(t)]
    return (min(good) if side == "ai" else max(good)) if good else None


def choose_thresholds(p: np.ndarray, y: np.ndarray, chosen_on: str = "grouped out-of-fold predictions") \
        -> dict[str, Any]:
    keep = ~np.isnan(p)
    p, ai = p[keep], y[keep] == 1
    ai_t, real_t = _pick_threshold(p, ai, "ai"), _pick_threshold(p, ai, "real")
    if ai_t is not None and real_t is not None and real_t >= ai_t:
        ai_t = real_t = None  # cannot happen at 0.95 each; refuse rather than guess
    thresholds = {"rule": f"ai: lowest P(AI) t where images with P >= t are AI with precision >= {MIN_PRECISION} "
                          f"(as measured and at even prevalence) over >= {MIN_CALLS} calls; real: the mirror image; "
                          f"chosen on {chosen_on}; null = that side is never called",
                  "ai_threshold": ai_t, "real_threshold": real_t}
    return {**thresholds, **calls_at_thresholds(p, ai.astype(int), thresholds)}


def calls_at_thresholds(p: np.ndarray, y: np.ndarray, thresholds: dict[str, Any]) -> dict[str, Any]:
    ai_t, real_t = thresholds["ai_threshold"], thresholds["real_threshold"]
    return {"ai": _side_stats(p >= ai_t, y == 1) if ai_t is not None else None,
            "real": _side_stats(p <= real_t, y == 0) if real_t is not None else None}


def evaluation_tables(pred: Predictions, thresholds: dict[str, Any], by_source: bool = False,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    keep = ~np.isnan(pred.p)
    entries = [e for e, k in zip(pred.entries, keep) if k]
    p, y = pred.p[keep], pred.y[keep]
    ai_t, real_t = thresholds["ai_threshold"], thresholds["real_threshold"]
    tables: dict[str, Any] = {"overall": {
        "n": len(p), "n_ai": int(y.sum()), "n_real": int((y == 0).sum()), "auc": _auc(p, y),
        "accuracy_at_0.5": round(float(((p >= 0.5) == (y == 1)).mean()), 4) if len(p) else None,
        "tile_auc": _auc(pred.tile_p, pred.tile_y), "at_thresholds": calls_at_thresholds(p, y, thresholds)}}
    rows = []
    sources = np.array([e.source for e in entries])
    for label, generator in sorted({(e.label, e.generator) for e in entries}, key=lambda k: (-k[0], k[1])):
        mask = np.array([e.label == label and e.generator == generator for e in entries])
        # Against the reals of the same source where it has some (same capture and
        # processing), else against every real in this evaluation.
        same = np.isin(sources, np.unique(sources[mask])) & (y == 0)
        reals = same if same.any() else (y == 0)
        vs = mask | reals
        rows.append({"class": "ai" if label else "real", "generator": generator, "n": int(mask.sum()),
                     "mean_p": round(float(p[mask].mean()), 4),
                     "auc_vs_reals": _auc(p[vs], y[vs]) if label else None,
                     "reals_compared": ("same source" if same.any() else "all") if label else None,
                     "called_ai_at_0.5": round(float((p[mask] >= 0.5).mean()), 4),
                     "called_ai": round(float((p[mask] >= ai_t).mean()), 4) if ai_t is not None else None,
                     "called_real": round(float((p[mask] <= real_t).mean()), 4) if real_t is not None else None})
    tables["per_generator"] = rows
    if by_source:
        tables["per_source"] = [{
            "source": src, "n_ai": int(y[m].sum()), "n_real": int((y[m] == 0).sum()),
            "mean_p_ai": round(float(p[m & (y == 1)].mean()), 4) if (m & (y == 1)).any() else None,
            "mean_p_real": round(float(p[m & (y == 0)].mean()), 4) if (m & (y == 0)).any() else None,
            "accuracy_at_0.5": round(float(((p[m] >= 0.5) == (y[m] == 1)).mean()), 4), "auc": _auc(p[m], y[m])}
            for src in sorted({e.source for e in entries})
            for m in [np.array([e.source == src for e in entries])]]
    if pred.notes:
        tables["notes"] = pred.notes
    return {**tables, **(extra or {})}


def container_probe(pred: Predictions) -> dict[str, Any]:
    """Re-save the held-out AI images as JPEG q80 and score them again: a model
    that learned "no JPEG history" instead of generation traces drops here."""
    y, has = pred.y, ~np.isnan(pred.laundered_p) & ~np.isnan(pred.p)
    real = (y == 0) & ~np.isnan(pred.p)
    if not has.any() or not real.any():
        return {}
    both = lambda ai: (np.concatenate([ai, pred.p[real]]), np.r_[np.ones(len(ai)), np.zeros(real.sum())])
    return {"container_probe": {
        "what": f"AI images of each held-out fold re-saved as JPEG q{LAUNDER_QUALITY}, scored against the same reals",
        "auc_original": _auc(*both(pred.p[has])), "auc_resaved_jpeg": _auc(*both(pred.laundered_p[has])),
        "mean_p_original": round(float(pred.p[has].mean()), 4),
        "mean_p_resaved_jpeg": round(float(pred.laundered_p[has].mean()), 4)}}


def markdown_report(weights: dict[str, Any]) -> str:
    m, t, d = weights["metrics"], weights["thresholds"], weights["data"]
    fmt = lambda v: "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["# Signal model training report", "",
             f"Recipe: `{json.dumps({k: v for k, v in weights['recipe'].items() if k != 'fit'})}`", "",
             (f"Training images: {d['n_train']} (sha1 list digest `{d['train_sha1_digest']}`); "
              f"evaluation-only images: {d['n_eval_only']}."), "", "| source | ai | real | use |", "|---|---|---|---|"]
    lines += [f"| {s} | {c.get('ai', 0)} | {c.get('real', 0)} | {c['use']} |" for s, c in d["sources"].items()]
    unseen = t.get("on_unseen_sources") or {}
    lines += ["", f"Thresholds ({t['rule']}): "
              f"ai_threshold = {fmt(t['ai_threshold'])}, real_threshold = {fmt(t['real_threshold'])}. "
              "Precision at them on sources never trained on (leave-one-source-out and evaluation-only): "
              + (", ".join(f"{side} {fmt(unseen[side]['precision'])} ({unseen[side]['n_called']} calls)"
                           for side in ("ai", "real") if unseen.get(side)) or "none (no side is ever called)")
              + ".", ""]
    for key, title in (("grouped_cv", "Grouped 5-fold CV by dup_group (training pool)"),
                       ("leave_one_source_out", "Leave-one-source-out (training pool)"),
                       ("held_out", "Evaluation-only sources (final model; never trained on)")):
        if key not in m:
            continue
        o = m[key]["overall"]
        at = o["at_thresholds"]
        lines += [f"## {title}", "", "| n (ai/real) | AUC | acc@0.5 | tile AUC | AI prec / rec @thr | real prec / rec @thr |",
                  "|---|---|---|---|---|---|",
                  f"| {o['n']} ({o['n_ai']}/{o['n_real']}) | {fmt(o['auc'])} | {fmt(o['accuracy_at_0.5'])} | "
                  f"{fmt(o['tile_auc'])} | "
                  + " | ".join("–" if at[s] is None else f"{fmt(at[s]['precision'])} / {fmt(at[s]['recall'])} "
                               f"({at[s]['n_called']} calls)" for s in ("ai", "real")) + " |", ""]
        if "per_source" in m[key]:
            lines += ["| source | ai | real | mean P(AI) ai | mean P(AI) real | acc@0.5 | AUC |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['source']} | {r['n_ai']} | {r['n_real']} | {fmt(r['mean_p_ai'])} | {fmt(r['mean_p_real'])} | "
                      f"{fmt(r['accuracy_at_0.5'])} | {fmt(r['auc'])} |" for r in m[key]["per_source"]]
            lines.append("")
        lines += ["| class | generator | n | mean P(AI) | AUC vs reals (which) | P>=0.5 | called AI | called real |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['class']} | {r['generator']} | {r['n']} | {fmt(r['mean_p'])} | "
                  f"{fmt(r['auc_vs_reals'])}{'' if r['reals_compared'] is None else ' (' + r['reals_compared'] + ')'} | "
                  f"{fmt(r['called_ai_at_0.5'])} | {fmt(r['called_ai'])} | {fmt(r['called_real'])} |"
                  for r in m[key]["per_generator"]]
        if "container_probe" in m[key]:
            c = m[key]["container_probe"]
            lines += ["", (f"Container probe ({c['what']}): AUC {fmt(c['auc_original'])} -> "
                           f"{fmt(c['auc_resaved_jpeg'])}, mean P(AI) {fmt(c['mean_p_original'])} -> "
                           f"{fmt(c['mean_p_resaved_jpeg'])}.")]
        lines += [f"Note: {n}" for n in m[key].get("notes", [])] + [""]
    return "\n".join(lines)
