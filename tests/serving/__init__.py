"""Tests of ``sim.serving``."""
