"""Train the learned signal score: `zoomin train-signal MANIFEST --out PATH`.

Reads a manifest CSV (models.evidence.dev_manifest), keeps for training only
the rows whose licence passes its allow-list, and uses every other row for
evaluation only.  It measures the model three ways (grouped cross-validation
by dup_group, leave-one-source-out, the evaluation-only rows; see
models.evidence.signal_evaluation), picks the decision thresholds from the
out-of-source scores (each source left out of training in turn, plus the
evaluation-only sources scored by the final model: precision on a generator or
camera the score never saw is what a new image meets), then fits the shipped
model on the whole training pool and writes it with its recipe and numbers.

This module holds the fitting (class-balanced L2 logistic regression by a
Newton solver, C by inner grouped CV, Platt calibration; the image and tile
model pair), the orchestration (train_signal_model) and the weights document.
Per-image features come from models.evidence.signal_samples.

Deterministic: fixed fold assignment, seeded tile sampling and augmentation,
a Newton solver, no timestamps in the outputs; the same manifest and seed give
the same bytes.  scikit-learn is used here (folds, AUC) but never at inference.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.evidence.dev_manifest import ManifestEntry, read_manifest, training_licence
from models.evidence.signal_evaluation import (
    calls_at_thresholds,
    choose_thresholds,
    container_probe,
    evaluation_tables,
    grouped_cv,
    leave_one_source_out,
    markdown_report,
    predict,
)
from models.evidence.signal_features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    FeatureRecipe,
)
from models.evidence.signal_model import (
    WEIGHTS_FORMAT,
    WEIGHTS_FORMAT_VERSION,
    LinearScorer,
)
from models.evidence.signal_samples import AUGMENT_QUALITIES, Sample, sample_features

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
MAX_TILES_PER_IMAGE = 24  # bounds training cost; tiles of one image are alike anyway


# --- fitting ---------------------------------------------------------------------------
def _balanced(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each class carries half the total weight: P(AI) is calibrated to even odds."""
    out = weights.astype(np.float64).copy()
    for cls in (0, 1):
        mask = y == cls
        if mask.any():
            out[mask] *= 0.5 * len(y) / out[mask].sum()
    return out


@dataclass
class _Linear:
    coef: np.ndarray
    intercept: float

    def decision_function(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.coef + self.intercept


def _newton_logistic(Z: np.ndarray, target: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Minimise sum w * logloss(target, sigmoid(Z @ b)) + penalty @ b**2 / 2 by
    damped Newton: with at most ~66 columns a few exact steps converge where
    lbfgs crawls, and the result is deterministic.  Targets may be soft."""
    beta = np.zeros(Z.shape[1])

    def objective(b: np.ndarray) -> float:
        z = Z @ b
        return float(w @ (np.logaddexp(0, z) - target * z) + 0.5 * penalty @ b ** 2)

    current = objective(beta)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(Z @ beta, -40, 40)))
        grad = Z.T @ (w * (p - target)) + penalty * beta
        hess = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-6 and objective(beta - size * step) > current + 1e-12:
            size /= 2  # Newton overshoots on nearly separable data
        beta = beta - size * step
        previous, current = current, objective(beta)
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    return beta


def _fit_lr(X: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, _Linear]:
    """L2 logistic regression on standardised features, sklearn's objective
    (C * weighted log-loss + |coef|^2 / 2, intercept unpenalised)."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    beta = _newton_logistic(Z, y.astype(np.float64), w * c, np.r_[np.ones(X.shape[1]), 0.0])
    return mean, scale, _Linear(beta[:-1], float(beta[-1]))


def _fit_platt(logits: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Platt scaling with his smoothed targets (so a few separable points do not
    yield 0/1 probabilities); a slope <= 0 becomes a constant, since a model
    worse than chance must not be trusted in reverse."""
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = _newton_logistic(np.c_[logits, np.ones(len(logits))], target, w, np.zeros(2))
    if not a > 0:
        mean_target = float(np.clip((w * target).sum() / w.sum(), 1e-6, 1 - 1e-6))
        a, b = 0.0, float(np.log(mean_target / (1 - mean_target)))
    return float(a), float(b)


def fit_scorer(X: np.ndarray, y: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None,
               c_grid: tuple[float, ...] = C_GRID) -> tuple[LinearScorer, dict[str, Any]]:
    """L2 logistic regression with C picked by inner grouped CV (balanced log-loss),
    Platt-calibrated on the inner out-of-fold logits."""
    from sklearn.model_selection import GroupKFold

    weights = _balanced(y, np.ones(len(y)) if weights is None else weights)
    n_splits = min(3, len(set(groups)))
    splits = list(GroupKFold(n_splits).split(X, y, groups)) if n_splits >= 2 else []
    if not splits or any(len(set(y[train])) < 2 for train, _ in splits):
        # Too few groups to validate (tiny manifests): middle C, calibrated in-sample.
        c = c_grid[len(c_grid) // 2]
        mean, scale, lr = _fit_lr(X, y, weights, c)
        logits = lr.decision_function((X - mean) / scale)
        info = {"C": c, "calibration": "in-sample (too few groups for out-of-fold)"}
    else:
        best = None
        for c in c_grid:
            logits = np.zeros(len(y))
            for train, test in splits:
                mean, scale, lr = _fit_lr(X[train], y[train], weights[train], c)
                logits[test] = lr.decision_function((X[test] - mean) / scale)
            p = np.clip(1 / (1 + np.exp(-logits)), 1e-6, 1 - 1e-6)
            loss = -float(weights @ (y * np.log(p) + (1 - y) * np.log(1 - p)) / weights.sum())
            if best is None or loss < best[0] - 1e-9:
                best = (loss, c, logits)
        _, c, logits = best
        mean, scale, lr = _fit_lr(X, y, weights, c)
        info = {"C": c, "calibration": "platt on inner out-of-fold logits", "inner_log_loss": round(best[0], 4)}
    slope, offset = _fit_platt(logits, y, weights)
    scorer = LinearScorer(mean, scale, lr.coef, lr.intercept, slope, offset)
    return scorer, info


@dataclass
class FittedPair:
    image: LinearScorer
    tile: LinearScorer
    info: dict[str, Any]


def fit_pair(samples: list[Sample], seed: int) -> FittedPair:
    """The image model and the tile model (tiles inherit their image's label),
    each fed every image twice: as it is and as its augmented JPEG copy."""
    versions = [(s.image, s.tiles, s.entry) for s in samples] + \
        [(s.aug_image, s.aug_tiles, s.entry) for s in samples if s.aug_image is not None]
    y = np.array([e.label for _, _, e in versions])
    groups = np.array([e.group for _, _, e in versions])  # a copy stays in its original's group
    image, image_info = fit_scorer(np.stack([v[0] for v in versions]), y, groups)
    rng = np.random.default_rng(seed)
    tiles, tile_y, tile_groups, tile_w = [], [], [], []
    for _, image_tiles, entry in versions:
        keep = np.sort(rng.permutation(len(image_tiles))[:MAX_TILES_PER_IMAGE])
        tiles.append(image_tiles[keep])
        tile_y += [entry.label] * len(keep)
        tile_groups += [entry.group] * len(keep)
        tile_w += [1.0 / len(keep)] * len(keep)  # every image weighs the same, whatever its size
    tile, tile_info = fit_scorer(np.concatenate(tiles), np.array(tile_y), np.array(tile_groups), np.array(tile_w))
    return FittedPair(image, tile, {"image": image_info, "tile": tile_info})


# --- the whole run ---------------------------------------------------------------------
@dataclass
class TrainingReport:
    weights_path: Path
    report_path: Path | None
    n_train: int
    n_eval_only: int
    ai_threshold: float | None
    real_threshold: float | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        m = self.metrics
        def fmt(v: Any) -> str:
            return "n/a" if v is None else f"{v:.3f}"
        return (f"trained on {self.n_train} images ({self.n_eval_only} evaluation-only); "
                f"grouped-CV AUC {fmt(m['grouped_cv']['overall']['auc'])}, "
                f"leave-one-source-out AUC {fmt(m['leave_one_source_out']['overall']['auc'])}, "
                f"held-out AUC {fmt(m['held_out']['overall']['auc'] if m.get('held_out') else None)}; "
                f"ai_threshold {fmt(self.ai_threshold)}, real_threshold {fmt(self.real_threshold)}")


def train_signal_model(manifest: Path, out: Path, report: Path | None = None, seed: int = 0, *,
                       recipe: FeatureRecipe | None = None, cache_dir: Path | None = None,
                       progress: bool = True) -> TrainingReport:
    """Train, evaluate and write the signal model weights (and a Markdown report).

    recipe: the normalisation and tiling (default: FeatureRecipe()).
    cache_dir: optional folder for per-image feature caches (keyed by file hash and recipe).
    """
    recipe = recipe or FeatureRecipe()
    say = print if progress else (lambda *_: None)
    entries = read_manifest(Path(manifest))
    n_pool = sum(e.trainable for e in entries)
    say(f"{n_pool} images allowed for training, {len(entries) - n_pool} for evaluation only")
    samples = [sample_features(e, recipe, seed, cache_dir)
               for e in tqdm(entries, desc="features", disable=not progress)]
    blank = [s for s in samples if s.blank]
    samples = [s for s in samples if not s.blank]
    for s in blank:
        say(f"skipped {s.entry.path.name}: no pixel variation to measure")
    pool = [s for s in samples if s.entry.trainable]
    held = [s for s in samples if not s.entry.trainable]
    if len({s.entry.label for s in pool}) < 2:
        raise ValueError("the licence-filtered training pool needs both real and AI images")

    say("grouped cross-validation by dup_group")
    grouped = grouped_cv(pool, lambda train: fit_pair(train, seed))
    say("leave-one-source-out")
    loso = leave_one_source_out(pool, lambda train: fit_pair(train, seed))
    say("final fit on the whole training pool")
    final = fit_pair(pool, seed)
    unseen_p, unseen_y = loso.p, loso.y
    held_pred = predict(final, held) if held else None
    if held_pred is not None:
        unseen_p, unseen_y = np.r_[unseen_p, held_pred.p], np.r_[unseen_y, held_pred.y]
    # The thresholds come from sources the score never saw (left out, or
    # evaluation-only): held-out groups of seen sources flattered it (0.95 there
    # was 0.63 on new sources).  What they are worth on held-out groups travels along.
    keep = ~np.isnan(unseen_p)
    thresholds = choose_thresholds(unseen_p[keep], unseen_y[keep], chosen_on="out-of-source predictions "
                                   "(leave-one-source-out on the pool, plus the evaluation-only sources)")
    thresholds["on_unseen_sources"] = {k: thresholds[k] for k in ("ai", "real")}
    thresholds.update(calls_at_thresholds(grouped.p[~np.isnan(grouped.p)], grouped.y[~np.isnan(grouped.p)],
                                          thresholds))
    metrics: dict[str, Any] = {
        "grouped_cv": evaluation_tables(grouped, thresholds, extra=container_probe(grouped)),
        "leave_one_source_out": evaluation_tables(loso, thresholds, by_source=True),
    }
    if held_pred is not None:
        metrics["held_out"] = evaluation_tables(held_pred, thresholds, by_source=True)
    weights = _weights_document(recipe, final, thresholds, metrics, entries, samples, seed)
    weights["data"]["skipped_blank"] = sorted(str(s.entry.path.name) for s in blank)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(weights, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(markdown_report(weights), encoding="utf-8")
    result = TrainingReport(out, Path(report) if report else None, len(pool), len(held),
                            thresholds["ai_threshold"], thresholds["real_threshold"], metrics)
    say(result.summary())
    return result


def _weights_document(recipe: FeatureRecipe, final: FittedPair, thresholds: dict[str, Any],
                      metrics: dict[str, Any], entries: list[ManifestEntry], samples: list[Sample],
                      seed: int) -> dict[str, Any]:
    import sklearn

    pool = [s for s in samples if s.entry.trainable]
    per_source: dict[str, Counter] = defaultdict(Counter)
    for e in entries:
        per_source[e.source]["ai" if e.label else "real"] += 1
    held = metrics.get("held_out", {}).get("overall", {})
    unseen_auc = held.get("auc") if held.get("auc") is not None else \
        metrics["leave_one_source_out"]["overall"]["auc"]
    return {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "features": list(FEATURE_NAMES),
        "recipe": {**recipe.to_dict(), "classifier": "L2 logistic regression on standardised features, "
                   "C by inner grouped 3-fold CV, Platt calibration (class-balanced: P(AI) at even odds)",
                   "tile_model": f"same, on up to {MAX_TILES_PER_IMAGE} tiles per image, tiles inherit the image label",
                   "augmentation": f"every training image also enters re-saved as JPEG at a seeded quality "
                                   f"{AUGMENT_QUALITIES[0]}-{AUGMENT_QUALITIES[1]} (same dup_group), so JPEG history "
                                   "carries no label",
                   "frames": "uniform frames on all four sides are stripped before features (training and evaluation)",
                   "seed": seed, "sklearn": sklearn.__version__, "numpy": np.__version__,
                   "fit": final.info},
        "image_model": final.image.to_dict(),
        "tile_model": final.tile.to_dict(),
        "thresholds": thresholds,
        "summary": {
            "grouped_cv_auc": metrics["grouped_cv"]["overall"]["auc"],
            "leave_one_source_out_auc": metrics["leave_one_source_out"]["overall"]["auc"],
            "unseen_generators_auc": unseen_auc,
        },
        "data": {
            "licence_rule": "train only where training_licence() admits the licence: refuse NC / research-only / "
                            "unlicensed first, then require an allow-listed family; the rest is evaluation only",
            "licences": {lic: training_licence(lic) or "evaluation only"
                         for lic in sorted({e.licence for e in entries})},
            "sources": {src: {**dict(sorted(c.items())), "use": "train" if any(
                e.trainable for e in entries if e.source == src) else "evaluation only"}
                for src, c in sorted(per_source.items())},
            "n_train": len(pool), "n_eval_only": len(samples) - len(pool),
            "train_sha1_digest": hashlib.sha1("\n".join(sorted(s.sha1 for s in pool)).encode()).hexdigest(),
            "feature_version": FEATURE_VERSION,
        },
        "metrics": metrics,
    }
