"""Topologies and placements that cannot be simulated are refused before the run, naming the key."""

from __future__ import annotations

import pytest

from sim.base.config import ConfigError
from sim.run.simulation import build
from tests.conftest import make_config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("platform=b200", "worker.tp=16"), "1 rack(s) of b200 have 8 GPUs, fewer than one worker of worker.tp=16"),
        (("platform=b200", "fleet.racks=2", "worker.tp=12", "worker.dp_attn=true"), "worker.tp=12 spans 2 scale-up domains of 8 GPUs"),
        (("platform=b200", "fleet.racks=2", "fleet.prefill_workers=1", "prefill_worker.tp=12", "prefill_worker.dp_attn=true"),
         "prefill_worker.tp=12 spans 2"),
        (("platform=gb200_nvl72", "fleet.racks=2", "worker.tp=48", "worker.dp_attn=true", "fleet.prefill_workers=2",
          "prefill_worker.tp=48", "prefill_worker.dp_attn=true"),
         "cannot place 2 prefill worker(s) of prefill_worker.tp=48 and a worker of worker.tp=48"),
        (("platform.topology.scaleout.nic_gbps=0",), "platform.topology.scaleout.nic_gbps=0.0 is not allowed: it must be > 0 Gbit/s"),
        (("platform.topology.scaleup.gpu_gb_s=-900",), "platform.topology.scaleup.gpu_gb_s=-900.0 is not allowed: it must be > 0"),
        (("platform.topology.scaleup.hop_latency_s=0",), "platform.topology.scaleup.hop_latency_s=0.0 is not allowed"),
        (("platform.topology.scaleout.switch_latency_s=-1e-6",), "platform.topology.scaleout.switch_latency_s=-1e-06 is not allowed"),
        (("platform.topology.scaleout.oversubscription=0.5",), "platform.topology.scaleout.oversubscription=0.5 is not allowed: it must be >= 1"),
        (("platform.topology.scaleup.kind=torus",), "platform.topology.scaleup.kind='torus' is unknown"),
        (("fleet.placement=random",), "fleet.placement='random' is unknown; use one of packed, spread"),
        (("platform=b200", "platform.topology.scaleout.gpus_per_leaf=12"), "gpus_per_leaf=12 must be a whole number of scale-up domains of 8"),
        (("platform=b200", "platform.gpus_per_rack=12"), "platform.gpus_per_rack=12 must be a whole number of scale-up domains"),
        (("perf.alltoall_scaleout_efficiency=1.5",), "perf.alltoall_scaleout_efficiency=1.5 is not allowed: it must be in (0, 1]"),
    ],
)
def test_bad_topologies_and_placements_are_refused_before_simulating(overrides, message):
    with pytest.raises(ConfigError) as err:
        build(make_config(*overrides))
    assert message in str(err.value)
