"""Tests of the pure modelling functions (QAM fusion, paste-back)."""
