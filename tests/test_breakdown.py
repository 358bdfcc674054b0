"""Where the time went: the parts of every worker's iterations add up to its busy time, at their bounds."""

from __future__ import annotations

import numpy as np
import pytest

from sim.run.cli import run_job
from sim.run.simulation import Simulation, build
from tests.conftest import TOY, make_config

PARTS = ("gemm_s", "attention_s", "activations_s", "alltoall_s", "allreduce_s", "overhead_s")


@pytest.mark.parametrize(
    "overrides",
    [
        ("platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=8", "engine.speculative.method=mtp"),  # all-reduce + all-to-all
        ("platform=h100", "model=llama3_70b", "precision=fp8", "worker.tp=8", "workload=reasoning"),  # dense: all-reduce only, long decode runs
        ("platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=2", "worker.tp=16", "worker.dp_attn=true",
         "fleet.prefill_workers=1", "prefill_worker.tp=8", "prefill_worker.dp_attn=true"),  # over the NICs, KV transfers
    ],
)
def test_the_parts_add_up_to_the_busy_time_and_the_communication_share_to_its_parts(overrides):
    sim = Simulation(build(make_config(*overrides, "workload.num_requests=200", *TOY[1:])))
    result = sim.run()
    w, m = result.workers, result.metrics
    np.testing.assert_allclose(sum(w[p] for p in PARTS), w["busy_s"], rtol=1e-9)
    np.testing.assert_allclose(w["comm_s"], w["alltoall_s"] + w["allreduce_s"], rtol=1e-12)
    assert m["comm_time_frac"] == pytest.approx(w["comm_s"].sum() / w["busy_s"].sum())
    assert sum(m[f"{p[:-2]}_time_frac"] for p in PARTS) == pytest.approx(1.0)
    assert 0 < m["comm_time_frac"] < 1 and 0 < m["link_util_max"] <= 1
    # the bound of a part is the side it spent most of its seconds on
    totals = sim.engines[0].part_totals
    gemm_bound = "compute" if totals.gemm_compute_s >= totals.gemm_memory_s else "memory"
    assert w["gemm_bound"][0] == gemm_bound
    fleet = [row for row in result.breakdown if row["worker"] == "fleet"]
    assert [row["part"] for row in fleet] == ["gemm", "attention", "activations", "alltoall", "allreduce", "overhead"]
    assert sum(row["share_of_busy"] for row in fleet) == pytest.approx(1.0)


def test_a_constant_model_says_nothing_of_parts_and_an_aggregated_fleet_moves_no_kv(tmp_path, capsys):
    result = Simulation(build(make_config("perf.kind=constant", *TOY))).run()
    assert result.metrics["comm_time_frac"] == 0 and result.metrics["kv_transfer_s_p99"] == 0
    assert (result.workers["busy_s"] > 0).all() and (result.workers["gemm_s"] == 0).all()
    run_job(make_config("workload.num_requests=40", "output.figure=false"), tmp_path)
    assert {"metrics.json", "requests.csv", "workers.csv", "breakdown.csv"} <= {p.name for p in tmp_path.iterdir()}
    assert "communication share" in capsys.readouterr().out
