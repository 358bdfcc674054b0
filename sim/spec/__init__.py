"""What the world is: accelerator platforms (and how their GPUs are wired), model architectures, numeric precisions.

The bottom layer of the simulator. Its modules turn the configuration of a platform, a model and a
precision into physics in SI units (FLOP/s, bytes, bytes/s, W) and say whether a combination can exist
(FP4 on a GPU without FP4 tensor cores, shapes that describe no transformer).

May import: ``sim.base.config`` only.
"""
