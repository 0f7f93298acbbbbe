"""Exact parsing metrics on numpy arrays: mIoU / pixel and mean accuracy, AP^p, AP^r, AP^h, PCP,
IPR, the per-image evaluation kernel, and the folder (submission) evaluator."""
