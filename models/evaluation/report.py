"""metrics.json and report.md (with ROC, score-histogram and per-generator plots)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from models.evaluation.metrics import Metrics, Prediction, compute_metrics
from models.evaluation.perturb import PERTURBATIONS
from models.evaluation.runner import EvaluationRun


def grouped_metrics(predictions: Sequence[Prediction], column: str) -> dict[str, Metrics]:
    """Metrics per value of one CSV/extra column (rows without it form "(none)")."""
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        groups[p.columns.get(column) or "(none)"].append(p)
    return {value: compute_metrics(members) for value, members in sorted(groups.items())}


def summarise(run: EvaluationRun, group_by: Sequence[str] = ()) -> dict:
    """Everything metrics.json holds."""
    return {
        "source": run.source,
        "backend": run.backend,
        "model_family": run.model_family,
        "perturbations": {
            name: {"description": PERTURBATIONS[name].description,
                   "overall": compute_metrics(preds).to_dict(),
                   "groups": {column: {value: m.to_dict() for value, m in grouped_metrics(preds, column).items()}
                              for column in group_by}}
            for name, preds in run.predictions.items()},
        "failure_count": len(run.failures),
        "failures": [{"path": f.path, "perturbation": f.perturbation, "message": f.message} for f in run.failures],
    }


def write_report(run: EvaluationRun, out: Path, group_by: Sequence[str] = ()) -> dict:
    """Write out/metrics.json, out/report.md and out/*.png; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(run, group_by)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plots = _plots(run, out)
    (out / "report.md").write_text(_markdown(summary, plots), encoding="utf-8")
    return summary


def _fmt(value) -> str:
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


_COLUMNS = ("count", "accuracy", "precision", "recall", "f1", "roc_auc", "inconclusive", "decided_accuracy",
            "mean_box_iou", "bleu1")


def _table(rows: dict[str, dict], first: str) -> list[str]:
    lines = [f"| {first} | " + " | ".join(_COLUMNS) + " |", "|---" * (len(_COLUMNS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_fmt(m[c]) for c in _COLUMNS) + " |" for name, m in rows.items()]
    return lines


def _markdown(summary: dict, plots: list[str]) -> str:
    lines = [f"# Evaluation: {summary['source']}", "",
             (f"Backend: `{summary['backend']}`"
              + (f" (model family {summary['model_family']})" if summary.get("model_family") else "")
              + ". AI class is positive; "
              "'inconclusive' counts as not AI. Definitions: docs/evaluation.md."), "",
             "## Overall, per perturbation", ""]
    perturbations = summary["perturbations"]
    lines += _table({name: p["overall"] for name, p in perturbations.items()}, "perturbation")
    lines += ["", "## Recall per generator (AI images)", ""]
    generators = sorted({g for p in perturbations.values() for g in p["overall"]["recall_by_generator"]})
    lines += ["| generator | n | " + " | ".join(perturbations) + " |", "|---" * (len(perturbations) + 2) + "|"]
    for g in generators:
        n = max(p["overall"]["fakes_by_generator"].get(g, 0) for p in perturbations.values())
        lines.append(f"| {g} | {n} | " + " | ".join(_fmt(p["overall"]["recall_by_generator"].get(g))
                                                    for p in perturbations.values()) + " |")
    for name, p in perturbations.items():
        for column, groups in p["groups"].items():
            lines += ["", f"## By `{column}` ({name})", ""] + _table(groups, column)
    lines += ["", f"## Failures: {summary['failure_count']}", ""]
    lines += [f"- `{f['path']}` ({f['perturbation']}): {f['message']}" for f in summary["failures"][:50]]
    lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _plots(run: EvaluationRun, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    written = []
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, preds in run.predictions.items():
        labels = [int(p.label == "fake") for p in preds]
        if len(set(labels)) == 2:
            fpr, tpr, _ = roc_curve(labels, [p.score for p in preds])
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate (real called AI)", ylabel="true positive rate (AI caught)", title="ROC")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    written.append(_save(fig, out / "roc.png"))

    names = list(run.predictions)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for label, colour in (("real", "tab:blue"), ("fake", "tab:red")):
            ax.hist([p.score for p in run.predictions[name] if p.label == label], bins=20, range=(0, 1),
                    alpha=0.6, color=colour, label=label)
        ax.set(title=name, xlabel="score (P AI)")
        ax.legend()
    written.append(_save(fig, out / "scores.png"))

    recalls = {n: compute_metrics(ps).recall_by_generator for n, ps in run.predictions.items()}
    generators = sorted({g for r in recalls.values() for g in r})
    if generators:
        fig, ax = plt.subplots(figsize=(min(14, max(6, 0.45 * len(generators))), 4.5))
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            ax.bar([x + i * width for x in range(len(generators))],
                   [recalls[name].get(g, 0.0) for g in generators], width, label=name)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(generators))], generators, rotation=60, ha="right")
        ax.set(ylabel="recall", ylim=(0, 1.15), title="recall per generator")
        ax.legend(ncol=len(names), fontsize="small", loc="upper center")
        written.append(_save(fig, out / "generators.png"))
    return written


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name
