"""How a run is measured: the steady-state window, and how sure its throughput and cost are.

A simulated fleet starts empty and, once the last request has arrived, drains: neither is the fleet a
planner pays for. By default (``workload.steady_state``) the figures of a run cover a window from the
end of the warm-up to the last arrival. The warm-up ends at the completion of the first
``workload.warmup_requests`` (benchmark mode: the first round of clients), or, when that is left at
None, where the MSER-5 rule (White, 1997) puts the end of the initial transient: cut the run before
the last arrival into intervals, average an output over batches of five intervals, and drop the
leading batches that minimise the standard error of the mean of those that remain; the later of the
cuts for two outputs, the requests in the fleet (arrived, less those completed and those turned
away at a full queue) and the tokens delivered. The rule never cuts more than half the run: a cut
there means no steady state was found (an overloaded fleet never settles), and the run says so. A run
too short to hold a steady state (fewer than ``MIN_WINDOW_REQUESTS`` completions in the window; with
an explicit warm-up, none) is measured whole, fill and drain included, and says so.

The confidence interval of the throughput comes from batch means: the window is cut into
``BATCHES`` batches of equal length, each batch's throughput is one observation, and Student's t
gives the 95 % interval of their mean. Batches much longer than a request's life are nearly
independent; a lag-1 autocorrelation of the batch means above ``MAX_LAG1`` says they are not (the
interval is then too narrow). The cost per token is the fleet's hourly cost over the throughput, so
its interval follows from the throughput's. A run whose interval is wider than the precision asked
(``workload.target_ci_half_width``), or whose window spans fewer than ``MIN_LIFETIMES`` request
lifetimes, is reported too short.
"""

from __future__ import annotations

import math

import numpy as np

#: Batches of the window for the batch-means confidence interval.
BATCHES = 20
#: MSER-5: intervals of the run (before the last arrival) the warm-up rule looks at, in batches of five.
MSER_INTERVALS = 500
MSER_BATCH = 5
#: Fewer completions than this in the steady-state window: the run is measured whole.
MIN_WINDOW_REQUESTS = 100
#: Lag-1 autocorrelation of the batch means above which the batches are too short to be independent.
MAX_LAG1 = 0.3
#: A steady-state window shorter than this many request lifetimes (median end-to-end latency) may still
#: hold the slow end of the transient (batches growing as each token takes longer): the run says so.
MIN_LIFETIMES = 5
#: Benchmark mode (closed-loop clients, the first round warm-up): each client sends at least this many
#: requests, and enough that the window holds BENCHMARK_MEASURED_REQUESTS. Six requests of six clients are
#: 24 measured, a throughput known to +-40 %; 2,000 bring the interval to a few percent for a few tenths of a
#: second more (the few-client runs are the cheap ones).
BENCHMARK_REQUESTS_PER_CLIENT = 6
BENCHMARK_MEASURED_REQUESTS = 2000


def benchmark_requests_per_client(concurrency: int) -> int:
    """Requests each of ``concurrency`` closed-loop clients sends in benchmark mode (warm-up round included)."""
    return max(BENCHMARK_REQUESTS_PER_CLIENT, -(-BENCHMARK_MEASURED_REQUESTS // max(1, concurrency)) + 1)


def completed_in(finish_s: np.ndarray, window_s: tuple[float, float]) -> np.ndarray:
    """Per request: completed within the measurement window, ``start < finish <= end`` (the one definition of
    the window's requests: metrics, intervals, latency quantiles and the run's figure use it)."""
    start_s, end_s = window_s
    with np.errstate(invalid="ignore"):
        return (finish_s > start_s) & (finish_s <= end_s)


def mser5_truncation(series: np.ndarray) -> tuple[float, bool]:
    """MSER-5 on one output series: the fraction of it to drop (at most half), in batches of five, and whether
    the rule wanted the half-run cap itself (no steady state in the first half)."""
    y = series[: series.size - series.size % MSER_BATCH].reshape(-1, MSER_BATCH).mean(axis=1)
    n = y.size
    remaining = np.arange(n, 0, -1, dtype=float)  # n - d for d = 0 .. n-1
    sum_y = np.cumsum(y[::-1])[::-1]
    sum_y2 = np.cumsum((y * y)[::-1])[::-1]
    squares = np.maximum(sum_y2 - sum_y * sum_y / remaining, 0.0)  # squared deviations from the rest's mean
    cut = int(np.argmin((squares / remaining**2)[: n // 2 + 1]))
    return cut / n, cut == n // 2


def mser5_warmup_s(
    arrival_s: np.ndarray, finish_s: np.ndarray, tokens: np.ndarray, end_s: float, dropped: np.ndarray | None = None
) -> tuple[float, bool]:
    """The end of the initial transient up to ``end_s`` (the last arrival): the later of MSER-5's
    truncations of the number of requests in the fleet and of the tokens delivered per interval (the
    first settles as batches fill, the second as a closed loop's synchronised start spreads out); and
    whether it is the half-run cap (no steady state found). ``dropped``: the requests turned away on
    arrival, never in the fleet."""
    done = np.isfinite(finish_s) & (finish_s <= end_s)
    if end_s <= 0 or not done.any():
        return 0.0, False
    entered = np.isfinite(arrival_s) & (True if dropped is None else ~dropped)
    edges = np.linspace(0.0, end_s, MSER_INTERVALS + 1)
    arrived = np.searchsorted(np.sort(arrival_s[entered]), edges[1:], side="right")
    finished = np.searchsorted(np.sort(finish_s[done]), edges[1:], side="right")
    delivered, _ = np.histogram(finish_s[done], bins=edges, weights=tokens[done])
    in_fleet = (arrived - finished).astype(float)
    (fleet_cut, fleet_capped), (tokens_cut, tokens_capped) = mser5_truncation(in_fleet), mser5_truncation(delivered)
    return max(fleet_cut, tokens_cut) * end_s, fleet_capped or tokens_capped


#: Student's t at 97.5 % for ``BATCHES`` - 1 = 19 degrees of freedom (``scipy.stats.t.ppf(0.975, 19)``; a
#: constant, so a run need not import scipy.stats, a second per process).
T_975_BATCHES = 2.093024054408263


def throughput_interval(finish_s: np.ndarray, tokens: np.ndarray, window_s: tuple[float, float]) -> dict[str, float]:
    """The 95 % confidence interval of the throughput over ``window_s`` by batch means, and the lag-1
    autocorrelation of the batch means."""
    start_s, end_s = window_s
    nan = float("nan")
    inside = completed_in(finish_s, window_s)
    if not end_s > start_s or inside.sum() < 2:
        return {"half_width": nan, "lag1": nan}
    per_batch, _ = np.histogram(finish_s[inside], bins=BATCHES, range=(start_s, end_s), weights=tokens[inside])
    rates = per_batch / ((end_s - start_s) / BATCHES)
    sd = float(rates.std(ddof=1))
    lag1 = float(np.corrcoef(rates[:-1], rates[1:])[0, 1]) if sd > 0 else 0.0
    return {"half_width": T_975_BATCHES * sd / math.sqrt(BATCHES), "lag1": lag1}


def confidence_metrics(
    finish_s: np.ndarray,
    tokens: np.ndarray,
    window_s: tuple[float, float],
    throughput_tok_s: float,
    cost_usd_per_hour: float,
    target_half_width: float,
    requests: int,
    lifetime_s: float,
) -> dict:
    """The metrics of a run's precision: the throughput's and the cost's 95 % intervals, and a warning
    (empty if none) when the run is too short for ``target_half_width``."""
    ci = throughput_interval(finish_s, tokens, window_s)
    half = ci["half_width"]
    rel = half / throughput_tok_s if throughput_tok_s > 0 else float("nan")
    low, high = throughput_tok_s - half, throughput_tok_s + half

    def cost(rate: float) -> float:
        return cost_usd_per_hour / (rate * 3600 / 1e6) if rate > 0 else float("inf")

    warnings = []
    if not rel <= target_half_width:  # NaN included: too few completions to tell
        shown = f"+-{rel:.1%}" if math.isfinite(rel) else "not at all"
        need = f" (about {math.ceil(requests * (rel / target_half_width) ** 2):,} requests)" if math.isfinite(rel) else ""
        warnings.append(
            f"the run is too short for the precision asked: its throughput is known to {shown} (95 %), "
            f"workload.target_ci_half_width asks +-{target_half_width:.1%}; raise workload.num_requests{need}"
        )
    if window_s[1] - window_s[0] < MIN_LIFETIMES * lifetime_s:
        warnings.append(
            f"the measured window ({window_s[1] - window_s[0]:.0f} s) spans fewer than {MIN_LIFETIMES} request lifetimes "
            f"({lifetime_s:.1f} s each): the fleet may not have settled; raise workload.num_requests"
        )
    if ci["lag1"] > MAX_LAG1:
        warnings.append(
            f"the throughput's batch means are correlated (lag-1 {ci['lag1']:.2f}): the interval is too "
            "narrow; raise workload.num_requests"
        )
    return {
        "throughput_tok_s_ci_low": low,
        "throughput_tok_s_ci_high": high,
        "throughput_ci_half_width_rel": rel,
        "batch_means_lag1": ci["lag1"],
        "cost_usd_per_mtok_ci_low": cost(high),
        "cost_usd_per_mtok_ci_high": cost(low),
        "measurement_warning": "; ".join(warnings),
    }
