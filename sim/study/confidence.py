"""How sure a study is: per configuration, the mean and 95 % confidence interval of the cost per
million delivered tokens, the cost per SLO-met million tokens and the tokens per MW across its seeds
and samples of uncertain inputs; and which uncertain input drives the cost's spread.

A configuration is a row's overrides and what it simulated, less the replication keys (``seed``,
``uncertainty.sample``). With two or more jobs the interval is Student's t on their mean, and the 5th
to 95th percentiles give the spread of the figure itself; a configuration of one job keeps that run's
own interval (batch means, :mod:`sim.measurement`) where it has one.

Sensitivity: over the jobs of a configuration, each sampled input (a ``sampled_*`` column) against the
cost per Mtok: Spearman's rank correlation, and the share of the cost's (rank) variance it explains,
the square of its standardised coefficient in a regression of the cost's ranks on the inputs' ranks
(with a Latin hypercube the inputs are nearly uncorrelated, so the shares add up to the regression's
R²; the rest is the seeds' noise and interactions). The cost's mean over the jobs where the input lies
in its lowest and its highest quarter is the tornado chart's bar. A configuration needs at least
``JOBS_PER_INPUT`` x (inputs + 1) jobs for this (18 for 5 inputs).
"""

from __future__ import annotations

import math

import numpy as np

from sim.study.results import REPLICATION_KEYS, ok_rows

#: The figures a configuration is summarised by (mean, interval, spread).
FIGURES = ("cost_usd_per_mtok", "cost_usd_per_slo_met_mtok", "tok_s_per_mw_drawn", "tok_s_per_mw_provisioned", "tput_per_gpu_tok_s",
           "interactivity_tok_s_user")
#: Keys that describe what was simulated (besides the dotted override keys).
DESCRIBING = ("platform", "model", "precision", "layout", "racks", "workload", "cost", "calibration", "uncertainty")
SAMPLED = "sampled_"
#: Jobs a configuration needs per sampled input (plus one) before its sensitivity is estimated: fewer,
#: and a regression on the ranks fits noise.
JOBS_PER_INPUT = 3


def configuration_keys(df) -> list[str]:
    """The columns that tell one configuration from another (present in the table)."""
    dotted = [c for c in df.columns if "." in c and c not in REPLICATION_KEYS]
    return [c for c in (*DESCRIBING, *dotted) if c in df.columns]


def _groups(df):
    keys = configuration_keys(df)
    if not keys:
        return [((), df)]
    filled = df[keys].astype(str)
    return [(tuple(name) if isinstance(name, tuple) else (name,), df.loc[index.index]) for name, index in filled.groupby(keys, sort=True, dropna=False)]


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of the mean of ``values`` (NaN bounds for fewer than two)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2 or not np.isfinite(values).all():
        return mean, math.nan, math.nan
    from scipy.stats import t

    half = float(t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def by_configuration(df):
    """One row per configuration: its keys, jobs (all and ok), the share that met the SLO, and for each
    of :data:`FIGURES` the mean, the 95 % interval of the mean and the 5th/95th percentiles."""
    import pandas as pd

    keys = configuration_keys(df)
    rows = []
    for name, group in _groups(df):
        ok = ok_rows(group)
        row = dict(zip(keys, group[keys].iloc[0])) if keys else {}
        row["jobs"] = len(group)
        row["jobs_ok"] = len(ok)
        row["slo_met_share"] = float(ok["slo_met"].astype(bool).mean()) if len(ok) and "slo_met" in ok else math.nan
        for figure in FIGURES:
            values = ok[figure].astype(float).to_numpy() if figure in ok else np.array([])
            mean, low, high = interval(values)
            if len(ok) == 1 and f"{figure}_ci_low" in ok:  # one run: its own batch-means interval
                low, high = float(ok[f"{figure}_ci_low"].iloc[0]), float(ok[f"{figure}_ci_high"].iloc[0])
            finite = values[np.isfinite(values)]
            row[f"{figure}_mean"] = mean
            row[f"{figure}_ci_low"], row[f"{figure}_ci_high"] = low, high
            row[f"{figure}_p05"] = float(np.percentile(finite, 5)) if finite.size else math.nan
            row[f"{figure}_p95"] = float(np.percentile(finite, 95)) if finite.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values)


def sensitivity(df, output: str = "cost_usd_per_mtok"):
    """Per configuration and sampled input: Spearman's rho with ``output``, the share of its rank
    variance the input explains, and ``output``'s mean where the input is in its lowest / highest quarter."""
    import pandas as pd

    inputs = [c for c in df.columns if c.startswith(SAMPLED)]
    keys = configuration_keys(df)
    columns = [*keys, "input", "jobs", "spearman", "variance_share", "rank_r2", f"{output}_low_quarter", f"{output}_high_quarter"]
    rows = []
    for name, group in _groups(df):
        ok = ok_rows(group)
        usable = [c for c in inputs if c in ok and ok[c].notna().all() and ok[c].nunique() > 1]
        if len(ok) < JOBS_PER_INPUT * (len(usable) + 1) or not usable or output not in ok:
            continue
        y = ok[output].astype(float).to_numpy()
        ry = _ranks(y)
        X = np.column_stack([_ranks(ok[c].astype(float).to_numpy()) for c in usable])
        Xs = (X - X.mean(axis=0)) / X.std(axis=0)
        ys = (ry - ry.mean()) / ry.std() if ry.std() > 0 else ry * 0
        beta, *_ = np.linalg.lstsq(np.column_stack([Xs, np.ones(len(ys))]), ys, rcond=None)
        fitted = np.column_stack([Xs, np.ones(len(ys))]) @ beta
        r2 = 1 - float(((ys - fitted) ** 2).sum() / (ys**2).sum()) if (ys**2).sum() > 0 else math.nan
        for j, column in enumerate(usable):
            x = ok[column].astype(float).to_numpy()
            low, high = np.quantile(x, 0.25), np.quantile(x, 0.75)
            rho = float(np.corrcoef(X[:, j], ry)[0, 1]) if ry.std() > 0 else math.nan
            row = dict(zip(keys, group[keys].iloc[0])) if keys else {}
            row.update({
                "input": column.removeprefix(SAMPLED), "jobs": len(ok), "spearman": rho,
                "variance_share": float(beta[j] ** 2), "rank_r2": r2,
                f"{output}_low_quarter": float(y[x <= low].mean()), f"{output}_high_quarter": float(y[x >= high].mean()),
            })
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)
