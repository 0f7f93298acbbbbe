"""Tests of the metrics, the evaluators and the folder-evaluation CLI."""
