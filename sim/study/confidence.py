"""How sure a study is: per configuration, the mean and 95 % confidence interval of the cost per
million delivered tokens, the cost per SLO-met million tokens and the tokens per MW across its seeds
and samples of uncertain inputs; and which uncertain input drives the cost's spread.

A configuration is a job's overrides less the replication keys (``seed``, ``uncertainty.sample``): the
``configuration`` column of the table (:mod:`sim.study.results`), so a job that failed counts against
its own configuration (fewer ``jobs_ok``); a table without that column is grouped by what the jobs
simulated. With two or more jobs the interval is Student's t on their mean, and the 5th to 95th
percentiles give the spread of the figure itself; a configuration of one job keeps that run's own
interval (batch means, :mod:`sim.run.measurement`) where it has one.

The cost per SLO-met million tokens is pooled, never averaged: a run in which no request met the SLO
has an infinite cost per SLO-met token (``null`` in its ``metrics.json``), and a mean would drop it and
look cheaper the more runs fail. The configuration's figure is its runs' total hourly cost over their
total SLO-met tokens per hour (every run weighs an hour), its interval the ratio estimator's (delta
method, Student's t); ``jobs_without_slo_met_tokens`` counts the runs that delivered none, and
``slo_met_token_share`` is the share of the runs' delivered tokens that met the SLO (their total goodput
over their total throughput). Being pooled, the figure weighs the busier runs more than the mean cost per
Mtok does: compare it with that mean through ``slo_met_token_share``, not directly.

Sensitivity: over the jobs of a configuration, each sampled input (a ``sampled_*`` column) against the
cost per Mtok: Spearman's rank correlation, and the share of the cost's rank variance it explains,
the square of its standardised coefficient in a regression of the cost's ranks on the inputs' ranks
(with a Latin hypercube the inputs are nearly uncorrelated, so the shares add up to about the
regression's R²; the rest is the seeds' noise and interactions). The tornado chart's bar is what that
regression predicts with the input at its lower and at its upper quartile and every other input at its
median, read back from ranks to dollars through the cost's own distribution: an input without effect
gets no bar, whatever the other inputs did in the jobs it happened to share. A configuration needs at
least ``JOBS_PER_INPUT`` x (inputs + 1) jobs for this (15 for 4 inputs).
"""

from __future__ import annotations

import math

import numpy as np

from sim.study.results import CONFIGURATION, REPLICATION_KEYS, ok_rows

#: The figures a configuration is summarised by (mean, interval, spread).
FIGURES = ("cost_usd_per_mtok", "cost_usd_per_slo_met_mtok", "tok_s_per_mw_drawn", "tok_s_per_mw_provisioned", "tput_per_gpu_tok_s",
           "interactivity_tok_s_user")
#: Keys that describe what was simulated (besides the dotted override keys).
DESCRIBING = ("platform", "model", "precision", "layout", "racks", "workload", "cost", "calibration", "uncertainty")
SAMPLED = "sampled_"
#: The figure pooled over a configuration's runs instead of averaged (see the module).
SLO_MET_COST = "cost_usd_per_slo_met_mtok"
#: Jobs a configuration needs per sampled input (plus one) before its sensitivity is estimated: fewer,
#: and a regression on the ranks fits noise.
JOBS_PER_INPUT = 3


def configuration_keys(df) -> list[str]:
    """The columns that describe a configuration (present in the table): what was simulated, the dotted overrides."""
    dotted = [c for c in df.columns if "." in c and c not in REPLICATION_KEYS]
    return [c for c in (*DESCRIBING, *dotted) if c in df.columns]


def by_overrides(df) -> bool:
    """Whether the table names every job's configuration by its overrides (tables aggregated from job folders do)."""
    return CONFIGURATION in df.columns and bool(df[CONFIGURATION].notna().all())


def _groups(df):
    """(name, rows) per configuration: by the jobs' overrides (``CONFIGURATION``), else by what they simulated."""
    keys = [CONFIGURATION] if by_overrides(df) else configuration_keys(df)
    if not keys:
        return [((), df)]
    filled = df[keys].astype(str)
    return [(tuple(name) if isinstance(name, tuple) else (name,), df.loc[index.index]) for name, index in filled.groupby(keys, sort=True, dropna=False)]


def whole_numbers(table, source):
    """``table`` with the columns that hold whole numbers in ``source`` (racks, fleet.racks) as integers again."""
    for column in table.columns:
        if column in source and source[column].dtype.kind == "i" and table[column].dtype.kind != "i":
            table[column] = table[column].astype("Int64")
    return table


def _describe(group, keys: list[str]) -> dict:
    """A configuration's keys, from a job that ended ok if any (a failed job knows only its overrides)."""
    ok = group[group["status"] == "ok"] if "status" in group else group
    first = (ok if len(ok) else group).iloc[0]
    row = {k: first[k] for k in keys}
    if by_overrides(group):
        row[CONFIGURATION] = first[CONFIGURATION]
    return row


def _t975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def pooled_ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float, float]:
    """Sum of ``numerator`` over sum of ``denominator`` across runs (inf if the denominator sums to 0), and its
    95 % interval by the delta method (NaN bounds for fewer than two runs)."""
    if numerator.size == 0:
        return math.nan, math.nan, math.nan
    total = float(denominator.sum())
    if not total > 0:
        return math.inf, math.nan, math.nan
    ratio = float(numerator.sum()) / total
    n = numerator.size
    if n < 2:
        return ratio, math.nan, math.nan
    residuals = numerator - ratio * denominator
    half = _t975(n - 1) * math.sqrt(float((residuals**2).sum()) / (n - 1) / n) / (total / n)
    return ratio, ratio - half, ratio + half


def _percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile of the non-NaN values; infinite ones count (a run without SLO-met tokens)."""
    values = values[~np.isnan(values)]
    if not values.size:
        return math.nan
    with np.errstate(invalid="ignore"):
        p = float(np.percentile(values, q))
    return math.inf if math.isnan(p) else p


def slo_met_costs(ok) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ok run: its hourly cost, its SLO-met Mtok per hour, and their ratio (inf where it delivered none)."""
    if "cost_usd_per_hour" not in ok or "goodput_tok_s" not in ok:
        return np.array([]), np.array([]), np.array([])
    cost_h = ok["cost_usd_per_hour"].astype(float).to_numpy()
    good_mtok_h = ok["goodput_tok_s"].astype(float).to_numpy() * 3600 / 1e6
    with np.errstate(divide="ignore", invalid="ignore"):
        return cost_h, good_mtok_h, np.where(good_mtok_h > 0, cost_h / good_mtok_h, math.inf)


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of the mean of ``values`` (NaN bounds for fewer than two)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2 or not np.isfinite(values).all():
        return mean, math.nan, math.nan
    half = _t975(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean, mean - half, mean + half


def by_configuration(df):
    """One row per configuration: its keys, jobs (all and ok; the share of all that met the SLO, a failed
    job counting as not), and for each of :data:`FIGURES` the mean (the pooled ratio for the cost per SLO-met
    Mtok, see the module), the 95 % interval and the 5th/95th percentiles across runs."""
    import pandas as pd

    keys = configuration_keys(df)
    rows = []
    for name, group in _groups(df):
        ok = ok_rows(group)
        row = _describe(group, keys)
        row["jobs"] = len(group)
        row["jobs_ok"] = len(ok)
        met = ok["slo_met"].astype(bool).sum() if "slo_met" in ok else math.nan
        row["slo_met_share"] = float(met / len(group)) if len(ok) else math.nan
        for figure in FIGURES:
            values = ok[figure].astype(float).to_numpy() if figure in ok else np.array([])
            mean, low, high = interval(values)
            if figure == SLO_MET_COST:
                cost_h, good_mtok_h, values = slo_met_costs(ok)
                mean, low, high = pooled_ratio(cost_h, good_mtok_h)
                row["jobs_without_slo_met_tokens"] = int(np.isinf(values).sum())
                delivered = ok["throughput_tok_s"].astype(float).to_numpy().sum() if "throughput_tok_s" in ok else math.nan
                row["slo_met_token_share"] = float(good_mtok_h.sum() * 1e6 / 3600 / delivered) if delivered > 0 else math.nan
            elif len(ok) == 1 and f"{figure}_ci_low" in ok:  # one run: its own batch-means interval
                low, high = float(ok[f"{figure}_ci_low"].iloc[0]), float(ok[f"{figure}_ci_high"].iloc[0])
            row[f"{figure}_{'pooled' if figure == SLO_MET_COST else 'mean'}"] = mean
            row[f"{figure}_ci_low"], row[f"{figure}_ci_high"] = low, high
            row[f"{figure}_p05"], row[f"{figure}_p95"] = _percentile(values, 5), _percentile(values, 95)
        rows.append(row)
    return whole_numbers(pd.DataFrame(rows), df)


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values)


def sensitivity(df, output: str = "cost_usd_per_mtok"):
    """Per configuration and sampled input: Spearman's rho with ``output``, the share of its rank variance
    the input explains, and the ``output`` the rank regression predicts with every input at its median, and
    with this input at its lower and upper quartile (the tornado chart's bar)."""
    import pandas as pd

    inputs = [c for c in df.columns if c.startswith(SAMPLED)]
    keys = configuration_keys(df)
    columns = [*keys, *([CONFIGURATION] if by_overrides(df) else []), "input", "jobs", "spearman", "variance_share",
               "rank_r2", f"{output}_at_medians", f"{output}_input_at_q25", f"{output}_input_at_q75"]
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
        def predicted(standard_rank: float) -> float:
            """``output`` at a standardised rank the regression predicts (the quantile of its values at that rank)."""
            rank = ry.mean() + standard_rank * ry.std()
            return float(np.quantile(y, min(max((rank - 0.5) / len(y), 0.0), 1.0)))

        for j, column in enumerate(usable):
            rho = float(np.corrcoef(X[:, j], ry)[0, 1]) if ry.std() > 0 else math.nan
            low, high = np.quantile(Xs[:, j], 0.25), np.quantile(Xs[:, j], 0.75)  # the input at its quartiles ...
            row = _describe(group, keys)
            row.update({
                "input": column.removeprefix(SAMPLED), "jobs": len(ok), "spearman": rho,
                "variance_share": float(beta[j] ** 2), "rank_r2": r2, f"{output}_at_medians": predicted(beta[-1]),
                f"{output}_input_at_q25": predicted(beta[-1] + beta[j] * low),  # ... the others at their medians
                f"{output}_input_at_q75": predicted(beta[-1] + beta[j] * high),
            })
            rows.append(row)
    return whole_numbers(pd.DataFrame(rows, columns=columns), df)
