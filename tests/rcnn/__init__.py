"""Tests of QAM rescoring for Mask R-CNN and of the one-stage ROI parsing head."""
