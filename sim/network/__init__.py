"""The network layer: where workers sit on the fabric, what their collectives cost, and how flows share links.

* :mod:`sim.network.placement`: workers onto the GPUs of the fleet's scale-up domains and leaf groups;
* :mod:`sim.network.links`: the fabric's links (scale-up ports, NICs, leaf uplinks), their bandwidths and
  the path of a transfer between two GPUs;
* :mod:`sim.network.collectives`: a worker's all-to-all and all-reduce on its GPUs: bytes on each kind of
  link, latencies, and the bandwidth it gets alone;
* :mod:`sim.network.sharing`: max-min fair rates of flows over shared links;
* :mod:`sim.network.fabric`: flows over time on the simulation's clock (workers' communication, KV-cache
  transfers), their rates as flows come and go, the bytes each link carried.

It may import the base layer (``sim.base.config``, ``sim.base.clock``) and ``sim.spec``; ``sim.serving`` uses it.
"""
