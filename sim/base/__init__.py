"""The base: what every layer stands on, knowing nothing of the simulator above it.

The configuration schemas registered in Hydra's ConfigStore and their composition (``config``); the ranges
of their numbers, ``ConfigError`` and the plausibility checks (``bounds``); the clock, SimPy's environment
with a fast lane for wake-ups and arrivals (``clock``); a command's errors as one line (``errors``); input
files read as checked text and outputs written atomically (``files``); progress bars (``progress``).

May import: nothing of ``sim`` but its own modules.
"""
