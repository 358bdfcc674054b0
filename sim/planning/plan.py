"""The cheapest fleet for a demand at an SLO: ``python -m sim.plan [overrides] --rate RPS [--out DIR]``.

Candidates are platforms × precisions × layouts: ``platform=h200,b200`` (or ``all``) and ``precision=fp8``
(or ``best``: FP4 where the platform has FP4 tensor cores, FP8 elsewhere), and for each the layouts of
its frontier (:mod:`sim.planning.frontier`, searched at the workload's lengths up to the SLO's limits)
whose best point in closed loop meets the TPOT and TTFT limits at their p99: the ``--layouts`` best
aggregated and the ``--layouts`` best disaggregated ones by throughput per GPU, each with the batch limit
of that point. Each candidate is then
sized for the demand in open loop (:mod:`sim.planning.capacity`): the smallest fleet meeting the SLO on
every seed. The demand is a Poisson rate (``--rate``) or a daily profile (``--profile FILE``, a CSV of
``hour,rate_rps``: the fleet is sized for the peak hour and its cost per SLO-met token counts the
whole day, each hour simulated at its rate), with the workload's lengths (``workload.input_tokens``,
``workload.output_tokens``, ``workload.length_dist``...).

Writes ``plan.csv`` (every candidate, ranked by cost per hour, with its cost per SLO-met million tokens,
power drawn and provisioned, tokens per MW, SLO figures, or why it cannot meet the SLO) and ``plan.png``
/ ``.pdf``. With ``--max-rate`` it answers the inverse for the fleet the overrides describe
(``fleet.workers``, ``worker.tp``, ...): the most demand it sustains at the SLO.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from sim.base.config import ConfigError, SimConfig, compose_config
from sim.base.errors import CommandParser, InputError, positive_number
from sim.base.files import check_output_dir, read_text
from sim.fidelity.cases import config_names
from sim.planning.capacity import Candidate, Sizing, Slo, max_rate, open_loop, size_all
from sim.planning.frontier import QUIET, check_precision, expand, write_csv
from sim.planning.layouts import layout_of
from sim.planning.plan_report import Row, plot_plan, rank, table
from sim.planning.runs import Runner
from sim.planning.search import MAX_CONCURRENCY, Point, SearchResult, search
from sim.planning.space import default_space
from sim.serving.workload import mean_length


def expand_candidates(overrides: list[str]) -> list[list[str]]:
    """Override sets per platform and precision: ``platform=all`` is every platform shipped, and
    ``precision=best`` FP4 where the platform has FP4 tensor cores, FP8 elsewhere."""
    every = f"platform={','.join(config_names('platform'))}"
    return expand([every if item == "platform=all" else item for item in overrides])


def best_precision(cfg: SimConfig) -> str:
    return "fp4" if cfg.platform.fp4_dense_tflops is not None else "fp8"


def open_loop_base(overrides: list[str]) -> SimConfig:
    """The plan's configuration (the workload's lengths and SLO, the cost preset): composed once."""
    cfg = compose_config(*[o for o in overrides if o != "precision=best"], *QUIET)
    if "precision=best" in overrides:
        cfg = compose_config(*[o for o in overrides if o != "precision=best"], f"precision={best_precision(cfg)}", *QUIET)
    check_precision(cfg)
    return cfg


def closed_loop(cfg: SimConfig) -> SimConfig:
    """The same platform, model and lengths in benchmark mode, for the frontier search."""
    wl = replace(cfg.workload, arrival="closed_loop", rate_rps=None, load_fraction=None, steady_state=True)
    return replace(cfg, workload=wl)


def label_of(cfg: SimConfig) -> str:
    return f"{cfg.platform.name} {cfg.precision.name.upper()}"


def candidates_from(cfg: SimConfig, result: SearchResult, slo: Slo, per_kind: int) -> tuple[list[Candidate], Row | None]:
    """The ``per_kind`` aggregated and ``per_kind`` disaggregated layouts whose best closed-loop point meets
    the SLO's p99 limits (by that point's throughput per GPU); or none, and a row saying what the
    fastest point reaches."""
    wl = cfg.workload
    tokens = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma) + mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    best: dict[tuple, Point] = {}
    for p in result.ok_points:
        if p.metrics["tpot_s_p99"] <= slo.tpot_s and p.metrics["ttft_s_p99"] <= slo.ttft_s:
            if p.layout.key() not in best or p.tput_per_gpu > best[p.layout.key()].tput_per_gpu:
                best[p.layout.key()] = p
    ranked = sorted(best.values(), key=lambda p: -p.tput_per_gpu)
    chosen = [p for p in ranked if not p.layout.disagg][:per_kind] + [p for p in ranked if p.layout.disagg][:per_kind]
    out = [
        Candidate(f"{label_of(cfg)} {p.layout.name}", cfg, p.layout, p.layout.batch_limit(p.concurrency),
                  p.tput_per_gpu * p.layout.gpus / tokens)
        for p in chosen
    ]
    if out:
        return out, None
    fastest = min(result.ok_points, key=lambda p: p.metrics["tpot_s_p99"], default=None)
    if fastest is None:
        return [], Row(label_of(cfg), None, status="no candidate", reason="no layout could be simulated")
    m = fastest.metrics
    reason = (f"no layout meets p99 TPOT {1000 * slo.tpot_s:g} ms and p99 TTFT {slo.ttft_s:g} s even in closed loop; the fastest, "
              f"{fastest.layout.name}, reaches p99 TPOT {1000 * m['tpot_s_p99']:.1f} ms, p99 TTFT {m['ttft_s_p99']:.2f} s")
    return [], Row(f"{label_of(cfg)} {fastest.layout.name}", None, status="no candidate", reason=reason,
                   ttft_p99=m["ttft_s_p99"], tpot_p99=m["tpot_s_p99"])


def read_profile(path: Path) -> list[float]:
    """Hourly rates from a CSV with a ``rate_rps`` column (one row per hour of the day)."""
    reader = csv.DictReader(io.StringIO(read_text(path, "daily profile"), newline=""))
    if "rate_rps" not in (reader.fieldnames or []):
        raise InputError(f"{path}: a daily profile needs a rate_rps column (one row per hour)")
    rates = []
    for number, row in enumerate(reader, start=2):
        try:
            rates.append(float(row["rate_rps"]))
        except (TypeError, ValueError):
            raise InputError(f"{path}, row {number}: rate_rps={row['rate_rps']!r} is not a number") from None
    check_rates(rates, str(path))
    return rates


def check_rates(rates: list[float], where: str) -> None:
    if not rates or not all(math.isfinite(r) and r >= 0 for r in rates) or max(rates) <= 0:
        raise ConfigError(f"{where}: the demand must be finite, non-negative request rates with a positive peak (got {rates[:5]}...)")


def day_figures(sizing: Sizing, profile: list[float], duration_s: float, runner: Runner) -> dict:
    """The sized fleet through the day: SLO-met tokens and energy, each distinct hourly rate simulated once."""
    distinct = sorted(set(r for r in profile if r > 0))
    outcomes = dict(zip(distinct, runner.run([open_loop(sizing.candidate, sizing.units, r, 0, duration_s, sizing.slo) for r in distinct])))
    good_tokens = sum(3600 * outcomes[r].metrics["goodput_tok_s"] for r in profile if r > 0 and outcomes[r].ok)
    energy_kwh = sum(outcomes[r].metrics["power_kw"] if r > 0 and outcomes[r].ok else 0.0 for r in profile)
    return {"slo_met_tokens_per_day": good_tokens, "energy_kwh_per_day": energy_kwh}


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.plan", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides; platform=a,b|all and precision=x,y|best give the candidates")
    demand = parser.add_mutually_exclusive_group()
    demand.add_argument("--rate", type=float, help="Poisson demand, requests per second")
    demand.add_argument("--profile", type=Path, help="daily profile: CSV with a rate_rps column, one row per hour")
    parser.add_argument("--ttft", type=float, default=2.0, help="p99 time-to-first-token limit, s (default 2)")
    parser.add_argument("--tpot", type=float, default=None, help="p99 time-per-output-token limit, s (default 0.05)")
    parser.add_argument("--interactivity", type=float, default=None, help="or the TPOT limit as tokens/s per user")
    parser.add_argument("--attainment", type=float, default=0.99, help="share of requests meeting both limits (default 0.99)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds a fleet must meet the SLO on (default 3)")
    parser.add_argument("--layouts", type=int, default=2, help="aggregated and disaggregated layouts tried per platform and precision (default 2 of each)")
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of arrivals per simulation (default 150)")
    parser.add_argument("--max-rate", action="store_true", help="the inverse: the most demand the fleet of the overrides sustains")
    parser.add_argument("--processes", type=positive_number(int), default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/plan"))
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out, "--out")
        if args.tpot is not None and args.interactivity is not None:
            raise ConfigError("give --tpot or --interactivity, not both")
        tpot = 1.0 / args.interactivity if args.interactivity else (args.tpot if args.tpot is not None else 0.05)
        slo = Slo(args.ttft, tpot, args.attainment)
        if args.seeds < 1 or args.layouts < 1 or not args.duration > 0:
            raise ConfigError("--seeds and --layouts must be >= 1 and --duration positive")
        if args.max_rate:
            return inverse(args, slo)
        profile = read_profile(args.profile) if args.profile else None
        if profile is None:
            check_rates([args.rate] if args.rate is not None else [], "--rate")
        return plan(args, slo, args.rate if profile is None else max(profile), profile)
    except (ConfigError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def plan(args, slo: Slo, rate: float, profile: list[float] | None) -> int:
    start = time.perf_counter()
    rows: list[Row] = []
    sizings: list[Sizing] = []
    with Runner(args.processes) as runner:
        for overrides in expand_candidates(args.overrides):
            try:
                cfg = open_loop_base(overrides)
                result = search(closed_loop(cfg), default_space(closed_loop(cfg)), runner, max_concurrency=MAX_CONCURRENCY,
                                min_interactivity=1.0 / slo.tpot_s, slo_limits_s=(slo.ttft_s, slo.tpot_s))
            except ConfigError as err:
                rows.append(Row(" ".join(overrides), None, status="no candidate", reason=str(err).splitlines()[0]))
                continue
            found, none = candidates_from(cfg, result, slo, args.layouts)
            if none is not None:
                rows.append(none)
            sizings += [Sizing(c, rate, slo, args.seeds, args.duration) for c in found]
            print(f"{label_of(cfg)}: frontier in {result.cpu_s:.0f} CPU s ({result.wall_s:.0f} s); {len(found)} candidate layout(s)")
        size_all(sizings, runner)
        for s in sizings:
            day = day_figures(s, profile, args.duration, runner) if profile and s.units else None
            rows.append(Row.of(s, day))
    ranked = rank(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "plan.csv", [r.as_dict() for r in ranked])
    what = f"{rate:g} req/s" if profile is None else f"a daily profile peaking at {rate:g} req/s"
    model = sizings[0].candidate.base.model.name if sizings else ""
    plot_plan(ranked, args.out / "plan", f"Cheapest fleet for {model} at {what}: {slo.describe()}")
    print(table(ranked))
    print(f"wrote {args.out / 'plan.csv'} and plan.png/.pdf in {time.perf_counter() - start:.0f} s ({runner.cpu_s:.0f} CPU s simulating)")
    if not any(r.status == "met" for r in ranked):
        print(f"error: no candidate meets {slo.describe()} at {what} at any size{closest(ranked, slo)}", file=sys.stderr)
        return 2
    return 0


def closest(rows: list[Row], slo: Slo) -> str:
    """What the candidate nearest to the SLO reaches: the sized fleet with the highest attainment, else the
    layout whose fastest closed-loop point came nearest the limits."""
    sized = [r for r in rows if r.attainment is not None]
    if sized:
        r = max(sized, key=lambda r: r.attainment)
        return (f"; the closest is {r.label} with {r.units} unit(s): {100 * r.attainment:.1f} % within the limits "
                f"(p99 TTFT {r.ttft_p99:.2f} s, p99 TPOT {1000 * r.tpot_p99:.1f} ms)")
    near = [r for r in rows if r.tpot_p99 is not None]
    if near:
        r = min(near, key=lambda r: max(r.tpot_p99 / slo.tpot_s, r.ttft_p99 / slo.ttft_s))
        return f"; the closest is {r.label}, whose fastest point reaches p99 TPOT {1000 * r.tpot_p99:.1f} ms and p99 TTFT {r.ttft_p99:.2f} s"
    return ""


def inverse(args, slo: Slo) -> int:
    if any("," in o for o in args.overrides):
        raise ConfigError("--max-rate answers for one fleet: give one platform and precision, no comma lists")
    from sim.run.simulation import build

    cfg = open_loop_base(args.overrides)
    dep = build(replace(cfg, workload=replace(cfg.workload, rate_rps=None, load_fraction=1.0)))
    layout = layout_of(dep)
    candidate = Candidate(f"{label_of(cfg)} {layout.name}", cfg, layout, cfg.engine.max_batch_size, dep.capacity_rps)
    with Runner(args.processes) as runner:
        rate, evaluation = max_rate(candidate, 1, slo, runner, args.seeds, args.duration)
    if evaluation is None:
        print(f"error: {candidate.label} does not meet {slo.describe()} at any rate", file=sys.stderr)
        return 2
    worst = evaluation.worst
    print(f"{candidate.label} ({layout.gpus} GPUs) sustains {rate:.3g} req/s at {slo.describe()} on {args.seeds} seeds "
          f"(worst seed: {100 * worst['slo_attainment']:.1f} %, p99 TTFT {worst['ttft_s_p99']:.2f} s, p99 TPOT {1000 * worst['tpot_s_p99']:.0f} ms)")
    return 0

