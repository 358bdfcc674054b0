"""Planning: what a capacity planner asks of many simulations. The throughput–interactivity frontier of
a platform (the best layout at each service level), the cheapest fleet that serves a demand at an SLO,
and why one deployment's token is cheaper than another's (a cost waterfall).

May import: everything below it (``sim.fidelity``, ``sim.study``, ``sim.run.simulation`` and the layers they
build on).
"""
