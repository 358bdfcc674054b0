"""Tests of ``sim.economics``."""
