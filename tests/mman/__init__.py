"""Tests of MMAN: generator, discriminators, adversarial trainer, configs and release weights."""
