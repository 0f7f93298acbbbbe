"""Tests of failure behaviour: bad data, checkpoints, killed processes, user-facing messages."""
