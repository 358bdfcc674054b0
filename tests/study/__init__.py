"""Tests of ``sim.study``."""
