"""How sure a study is: intervals per configuration and what drives the cost (sim/study/confidence.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.study.confidence import by_configuration, interval, sensitivity


def synthetic(n=64, seed=0) -> pd.DataFrame:
    """Two configurations; the cost is 1 + 2 x price (which matters) + 0.05 x pue (which barely does) + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for platform, base in (("h200", 1.0), ("b200", 0.5)):
        price, pue = rng.uniform(0.8, 1.2, n), rng.uniform(1.1, 1.5, n)
        cost = base + 2 * price + 0.05 * pue + rng.normal(0, 0.02, n)
        for i in range(n):
            rows.append({"job": f"{platform}{i}", "status": "ok", "configuration": f"platform={platform}", "platform": platform,
                         "model": "deepseek_r1", "seed": i % 4, "uncertainty.sample": i,
                         "cost_usd_per_mtok": cost[i], "cost_usd_per_slo_met_mtok": cost[i],
                         "tok_s_per_mw_drawn": 1e6 / cost[i], "tok_s_per_mw_provisioned": 1.1e6 / cost[i],
                         "cost_usd_per_hour": cost[i] * 3.6, "goodput_tok_s": 1000.0,
                         "tput_per_gpu_tok_s": 1000.0, "interactivity_tok_s_user": 50.0, "slo_met": i % 2 == 0,
                         "sampled_price": price[i], "sampled_pue": pue[i]})
    rows.append({"job": "bad", "status": "failed", "configuration": "platform=h100", "platform": "h100", "seed": 0, "uncertainty.sample": 0})
    return pd.DataFrame(rows)


def test_the_interval_is_students_t():
    values = np.array([1.0, 2.0, 4.0, 3.5, 2.5])
    mean, low, high = interval(values)
    expected = stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean()) and (low, high) == pytest.approx(expected)
    assert np.isnan(interval(np.array([1.0]))[1])


def test_one_row_per_configuration_replications_pooled():
    configs = by_configuration(synthetic()).set_index("platform")
    assert configs.loc["h200", "jobs"] == configs.loc["h200", "jobs_ok"] == 64
    assert configs.loc["h100", "jobs_ok"] == 0 and np.isnan(configs.loc["h100", "cost_usd_per_mtok_mean"])
    assert configs.loc["b200", "cost_usd_per_mtok_mean"] == pytest.approx(0.5 + 2.0 + 0.05 * 1.3, abs=0.05)
    assert configs.loc["b200", "cost_usd_per_mtok_ci_low"] < configs.loc["b200", "cost_usd_per_mtok_mean"] < configs.loc["b200", "cost_usd_per_mtok_ci_high"]
    assert configs.loc["h200", "slo_met_share"] == 0.5


def test_a_failed_job_counts_against_its_own_configuration():
    """A failed job knows only its overrides (no metrics, so no model or layout): it is one of its configuration's
    jobs, not a configuration of its own, and lowers the share that met the SLO."""
    df = synthetic()
    failed = {"job": "h200-failed", "status": "failed", "configuration": "platform=h200", "platform": "h200", "seed": 9, "uncertainty.sample": 9}
    configs = by_configuration(pd.concat([df, pd.DataFrame([failed])], ignore_index=True)).set_index("platform")
    assert len(configs) == 3 and configs.loc["h200", "jobs"] == 65 and configs.loc["h200", "jobs_ok"] == 64
    assert configs.loc["h200", "model"] == "deepseek_r1" and configs.loc["h200", "slo_met_share"] == pytest.approx(32 / 65)


def test_the_cost_per_slo_met_token_is_pooled_and_counts_runs_without_slo_met_tokens():
    """Total hourly cost over total SLO-met tokens per hour: a run that delivered none (its null in metrics.json)
    raises the figure instead of vanishing from a mean."""
    df = synthetic()
    h200 = df["platform"] == "h200"
    expected = df.loc[h200, "cost_usd_per_hour"].sum() / (df.loc[h200, "goodput_tok_s"].sum() * 3600 / 1e6)
    first = df.index[h200][0]
    df.loc[first, ["goodput_tok_s", "cost_usd_per_slo_met_mtok"]] = [0.0, np.nan]
    with_none = df.loc[h200, "cost_usd_per_hour"].sum() / (df.loc[h200, "goodput_tok_s"].sum() * 3600 / 1e6)
    configs = by_configuration(df).set_index("platform")
    assert configs.loc["h200", "cost_usd_per_slo_met_mtok_pooled"] == pytest.approx(with_none) and with_none > expected * 1.01
    assert configs.loc["h200", "jobs_without_slo_met_tokens"] == 1 and configs.loc["b200", "jobs_without_slo_met_tokens"] == 0
    low, high = configs.loc["h200", ["cost_usd_per_slo_met_mtok_ci_low", "cost_usd_per_slo_met_mtok_ci_high"]]
    assert low < with_none < high and high - low < 0.2 * with_none


def test_the_input_that_drives_the_cost_comes_first():
    """The tornado's bars come from the rank regression: the price moves the predicted cost by about 2 x its
    interquartile range (0.2); the PUE, which barely matters, moves it by almost nothing."""
    sens = sensitivity(synthetic())
    for _, rows in sens.groupby("platform"):
        by_input = rows.set_index("input")
        assert by_input.loc["price", "spearman"] > 0.95 and by_input.loc["price", "variance_share"] > 0.9
        assert by_input.loc["pue", "variance_share"] < 0.05
        swing = by_input["cost_usd_per_mtok_input_at_q75"] - by_input["cost_usd_per_mtok_input_at_q25"]
        assert 0.3 < swing["price"] < 0.5 and abs(swing["pue"]) < 0.03
        assert by_input["cost_usd_per_mtok_input_at_q25"]["price"] < by_input["cost_usd_per_mtok_at_medians"]["price"]
        assert by_input["rank_r2"].iloc[0] > 0.95


def test_no_sampled_inputs_no_sensitivity():
    assert sensitivity(synthetic().drop(columns=["sampled_price", "sampled_pue"])).empty


def test_whole_numbers_stay_whole_when_failed_jobs_lack_them():
    """racks is known only from the metrics of jobs that ran: the tables still write 1, not 1.0."""
    from sim.study.results import frame

    rows = [{"job": "0", "status": "ok", "configuration": "fleet.racks=1", "fleet.racks": 1, "racks": 1, "cost_usd_per_mtok": 0.3},
            {"job": "1", "status": "failed", "configuration": "platform=h100", "platform": "h100"}]
    df = frame(rows)
    assert str(df["racks"].dtype) == "Int64" and df["cost_usd_per_mtok"].dtype.kind == "f"
    configs = by_configuration(df)
    assert configs.to_csv(index=False).splitlines()[1].split(",")[:2] == ["", "1"]  # platform unset, racks 1
    assert str(configs["racks"].dtype) == "Int64"


def test_a_table_without_overrides_is_grouped_by_what_was_simulated():
    """Rows built from simulate() in a notebook carry no configuration column: grouped by platform and the rest."""
    configs = by_configuration(synthetic().drop(columns=["configuration"])).set_index("platform")
    assert sorted(configs.index) == ["b200", "h100", "h200"] and configs.loc["h200", "jobs"] == 64
    assert len(sensitivity(synthetic().drop(columns=["configuration"]))) == 4
