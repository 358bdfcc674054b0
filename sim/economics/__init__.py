"""Power and money: what a fleet draws and what an hour and a delivered token of it cost.

May import: ``sim.base.config``, ``sim.spec``.
"""
