"""Perceptual hashes and near-duplicate matching (the newsroom's memory of images seen before)."""
