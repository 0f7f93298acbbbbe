"""Tests of the install, the config system, registration and the training entry points."""
