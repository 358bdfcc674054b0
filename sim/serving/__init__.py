"""How one fleet serves: workload, requests, performance model, engines, router, fleet layout.

A workload draws requests into the request table; a router sends each to a worker; every worker's
engine batches its requests iteration by iteration, timed by the performance model (roofline physics
of the platform, model, precision, layout and placement, with speculative decoding); the fleet module
carves racks into workers, places them on the fabric and checks that each fits in memory; a worker whose
links are shared communicates through flows on the fabric (``flows``). ``engine``, ``perf``, ``router`` and ``speculative``
are the hot path that ``setup.py`` compiles with mypyc (``sim.serving.native`` picks the compiled or source
modules): keep them small, typed and import-light.

May import: ``sim.base.config``, ``sim.base.clock``, ``sim.spec``, ``sim.network``, ``sim.economics``.
"""
