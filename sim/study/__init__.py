"""Studies: many simulations of one question, and what they amount to (sweep tables).

May import: everything below it (``sim.simulation``, ``sim.cli`` and the layers they build on).
"""
