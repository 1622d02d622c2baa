"""Measuring a detector on a labelled set: detection, localisation and explanation
metrics, under the paper's perturbations, with a Markdown report (docs/evaluation.md)."""
