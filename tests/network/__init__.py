"""Tests of ``sim.network``: placement, collectives, link sharing, the fabric."""
