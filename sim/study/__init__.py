"""Studies: many simulations of one question, and what they amount to (sweep tables).

May import: everything below it (``sim.run.simulation``, ``sim.run.cli`` and the layers they build on).
"""
