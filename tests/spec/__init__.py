"""Tests of ``sim.spec``."""
