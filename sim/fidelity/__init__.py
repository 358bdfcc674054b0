"""How right the simulator is: measured benchmark cases simulated in benchmark mode, the validation
table against them, and the calibration of the performance model's efficiency factors.

May import: everything below it (``sim.run.simulation`` and the layers it builds on).
"""
