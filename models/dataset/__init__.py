"""Explainable-detection datasets: MagniFake/TRACE-style records of images
with labels, boxes and forensic explanations (see docs/dataset.md)."""
