"""Why one deployment's token is cheaper than another's: ``python -m sim.waterfall A B --interactivity X``.

A and B are deployments of one model, each an override set (``"platform=h200 precision=fp8 worker.tp=8"``)
or the name of a deployment config (``h200_fp8_x9``: ``conf/deployment/``). The gap in cost per million
tokens between them, at a fixed interactivity, is decomposed into six factors, each a group of settings
switched from A's to B's:

* ``price``: the GPU-hour price (of the cost preset);
* ``chip``: compute and memory: the GPU's tensor-core rates, HBM capacity and bandwidth, its generation's
  calibrated efficiencies, its power;
* ``precision``: the data types (FP4 on a chip without FP4 tensor cores runs weight-only, as ``mxfp4``);
* ``interconnect``: the scale-up domain and its bandwidth, the scale-out NIC, GPUs per rack;
* ``layout``: the workers' tp, ep, dp_attn and the prefill/decode split (the batch follows the
  interactivity);
* ``speculative``: speculative decoding.

Every one of the 2^6 mixtures of the two deployments is a hybrid deployment: its cost per million tokens
at interactivity X is its price per GPU-hour over its throughput per GPU at X, read off its own curve of
concurrencies in benchmark mode (a layout whose pools do not fit the hybrid's memory takes the smallest
larger tp that does; the table says so). The price changes no simulation, so 32 hybrids are simulated.
Switching the factors one at a time along a path attributes the gap, but the shares depend on the
order: the table gives the listed order's path, the range over all orders, and the order-averaged
(Shapley) attribution (:mod:`sim.planning.attribution`), both in $ per Mtok (they add up to the gap) and
as multipliers of the cost (they multiply to B's over A's: prices and throughputs act as factors, so a
factor's multiplier depends far less on the order than its dollars do); the figure draws the multipliers
on a logarithmic axis. ``--factors`` groups
factors (``chip+precision``) or drops them from the decomposition (they then stay A's).
"""

from __future__ import annotations

import shlex
import sys
import math
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from sim.base.config import ConfigError, SimConfig
from sim.base.errors import CommandParser, InputError, positive_number
from sim.base.files import check_output_dir
from sim.planning.attribution import order_range, path_attribution, shapley
from sim.planning.frontier import benchmark_config, write_csv
from sim.planning.layouts import Layout, layout_of
from sim.planning.pareto import Frontier
from sim.planning.runs import Runner
from sim.planning.search import Lane, climb
from sim.planning.waterfall_plot import plot_waterfall

FACTORS = {
    "price": "GPU-hour price",
    "chip": "compute and memory",
    "precision": "precision",
    "interconnect": "scale-up domain / interconnect",
    "layout": "layout and batching",
    "speculative": "speculative decoding",
}
CHIP_FIELDS = ("generation", "memory_gb", "hbm_bw_tb_s", "bf16_dense_tflops", "fp8_dense_tflops", "fp4_dense_tflops", "tdp_w",
               "idle_power_fraction", "host_power_w_per_gpu", "allin_power_kw_per_gpu", "capex_usd_per_gpu")
LINK_FIELDS = ("topology", "gpus_per_rack")  # the scale-up domain, its links, the NICs and the leaves and spines


@dataclass(frozen=True)
class Side:
    """One of the two deployments compared: its benchmark-mode configuration and layout."""

    label: str
    cfg: SimConfig
    layout: Layout

    @property
    def price(self) -> float:
        return self.cfg.platform.price_usd_per_gpu_hour[self.cfg.cost.preset]


def sides(spec_a: str, spec_b: str, common: list[str]) -> tuple[Side, Side]:
    """Deployments A and B, each from an override set or a deployment config's name; both of one model."""
    cfgs = [benchmark_config(*(shlex.split(spec) if "=" in spec else [f"+deployment={spec}"]), *common) for spec in (spec_a, spec_b)]
    same_model(*cfgs)
    return side(spec_a, cfgs[0]), side(spec_b, cfgs[1])


def same_model(a: SimConfig, b: SimConfig) -> None:
    if a.model.name != b.model.name:
        raise ConfigError(f"A serves {a.model.name} and B serves {b.model.name}: a waterfall explains the cost of one model's "
                          "tokens; compare two deployments of the same model")


def side(spec: str, cfg: SimConfig) -> Side:
    """One deployment: its configuration's layout (an aggregated fleet as one worker: per GPU they are alike)."""
    from sim.run.simulation import build

    if cfg.cost.mode != "preset":
        raise ConfigError(f"{spec}: the waterfall prices GPU-hours from a cost preset (cost=hyperscaler, neocloud or rental), not cost={cfg.cost.name}")
    layout = layout_of(build(replace(cfg, workload=replace(cfg.workload, concurrency=1, num_requests=6, warmup_requests=1))))
    if not layout.disagg:
        layout = replace(layout, workers=1)
    return Side(f"{cfg.platform.name} {cfg.precision.name.upper()} {layout.name}", cfg, layout)


def hybrid(a: Side, b: Side, switched: frozenset[str]) -> tuple[SimConfig, Layout, str]:
    """A with the switched factors from B (the price aside), its layout, and a note if the layout had to grow."""
    platform = a.cfg.platform
    for group, names in (("chip", CHIP_FIELDS), ("interconnect", LINK_FIELDS)):
        if group in switched:
            platform = replace(platform, **{n: getattr(b.cfg.platform, n) for n in names})
    precision = (b if "precision" in switched else a).cfg.precision
    if precision.activation_dtype == "fp4" and platform.fp4_dense_tflops is None:
        precision = replace(precision, name="mxfp4", activation_dtype="bf16")  # weight-only on a chip without FP4 tensor cores
    source = b if "speculative" in switched else a  # its layout says whether it speculates, its engine how
    spec = replace(source.cfg.engine.speculative, method=source.layout.spec)
    layout = replace((b if "layout" in switched else a).layout, spec=spec.method)
    cfg = replace(a.cfg, platform=platform, precision=precision, engine=replace(a.cfg.engine, speculative=spec))
    return fitted(cfg, layout)


def fitted(cfg: SimConfig, layout: Layout) -> tuple[SimConfig, Layout, str]:
    """The layout with each pool's tp doubled until its model replica fits (the note says which grew)."""
    from sim.serving.fleet import worker_memory
    from sim.serving.workload import max_length
    from sim.spec.model import ModelArch
    from sim.spec.platform import Platform
    from sim.spec.precision import Precision

    platform, model, precision = Platform.from_config(cfg.platform), ModelArch(cfg.model), Precision.from_config(cfg.precision)
    wl = cfg.workload
    longest_in = max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    longest = longest_in + max_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)

    def grown(tp: int, ep: int, dp: bool, tokens: int) -> tuple[int, int]:
        while tp <= 128:
            worker = replace(layout.worker, tp=tp, ep=ep, dp_attn=dp)
            mem = worker_memory(platform, model, precision, worker, cfg.engine)
            if mem.kv_capacity_tokens >= tokens + 1 + mem.kv_fixed_tokens:
                return tp, ep
            tp, ep = tp * 2, ep * 2 if ep else 0
        raise ConfigError(f"{model.name} at {precision.name} does not fit on any worker of {platform.name} up to tp=128")

    tp, ep = grown(layout.tp, layout.ep, layout.dp_attn, longest)
    new = replace(layout, tp=tp, ep=ep)
    if layout.disagg:
        ptp, pep = grown(layout.prefill_tp, layout.prefill_ep, layout.prefill_dp_attn, longest_in)
        new = replace(new, prefill_tp=ptp, prefill_ep=pep)
    note = "" if new == layout else f"{layout.name} does not fit: {new.name}"
    return cfg, new, note


@dataclass(frozen=True)
class Attribution:
    """Each factor's share of the gap: order-averaged (Shapley), along the listed path, and its range over
    every order; in $ per Mtok (additive), or as multipliers of the cost (multiplicative: their product is
    B's cost over A's)."""

    shapley: list[float]
    path: list[float]
    ranges: list[tuple[float, float]]

    @classmethod
    def of(cls, n: int, values: dict[frozenset[int], float], multiplicative: bool = False) -> "Attribution":
        if not multiplicative:
            return cls(shapley(n, values), path_attribution(range(n), values), order_range(n, values))
        logs = {s: math.log(v) for s, v in values.items()}
        lo_hi = order_range(n, logs)
        return cls([math.exp(v) for v in shapley(n, logs)], [math.exp(v) for v in path_attribution(range(n), logs)],
                   [(math.exp(lo), math.exp(hi)) for lo, hi in lo_hi])


@dataclass
class Waterfall:
    """The decomposition: each hybrid's throughput and cost, and the attributions of the gap."""

    a: Side
    b: Side
    interactivity: float
    factors: list[str]  # each a '+'-joined group of FACTORS keys
    tput: dict[frozenset[int], float]  # throughput per GPU of each hybrid at the interactivity
    cost: dict[frozenset[int], float]  # $ per Mtok
    notes: dict[frozenset[int], str]
    requested: float = 0.0  # the interactivity asked for (``interactivity`` is lower when no hybrid reached it)

    @property
    def gap(self) -> float:
        return self.cost[frozenset(range(len(self.factors)))] - self.cost[frozenset()]

    @cached_property
    def additive(self) -> Attribution:
        """Shares of the gap in $ per Mtok (they add up to it)."""
        return Attribution.of(len(self.factors), self.cost)

    @cached_property
    def multiplicative(self) -> Attribution:
        """Each factor as a multiplier of the cost (they multiply to B's over A's): the natural shares when
        the factors' effects multiply, as prices and throughputs do."""
        return Attribution.of(len(self.factors), self.cost, multiplicative=True)


def decompose(a: Side, b: Side, interactivity: float, factors: list[str], runner: Runner, or_lower: bool = False) -> Waterfall:
    """Simulate every hybrid and attribute A's and B's cost gap at ``interactivity`` to the factors. A hybrid
    that cannot serve users that fast is an error, or with ``or_lower`` moves the comparison down to the
    fastest interactivity every hybrid reaches (``Waterfall.requested`` keeps the one asked for)."""
    same_model(a.cfg, b.cfg)
    unknown = [f for group in factors for f in group.split("+") if f not in FACTORS]
    if unknown or not factors or len({f for g in factors for f in g.split("+")}) != sum(len(g.split("+")) for g in factors):
        raise ConfigError(f"--factors {','.join(factors)}: use each of {', '.join(FACTORS)} at most once, grouped with '+'")
    n = len(factors)
    subsets = [frozenset(i for i in range(n) if mask >> i & 1) for mask in range(2 ** n)]
    names = {s: frozenset(f for i in s for f in factors[i].split("+")) for s in subsets}
    physical: dict[frozenset[str], tuple[SimConfig, Layout, str]] = {}
    for s in subsets:
        key = names[s] - {"price"}
        if key not in physical:
            physical[key] = hybrid(a, b, key)
    keys = list(physical)
    lanes = [Lane(physical[k][0], physical[k][1]) for k in keys]
    at = interactivity
    curves = _curves(lanes, runner, at)
    slowest = min(keys, key=lambda k: curves[keys.index(k)][0].max_interactivity if not curves[keys.index(k)][0].empty else 0.0)
    fastest_common = curves[keys.index(slowest)][0].max_interactivity if not curves[keys.index(slowest)][0].empty else 0.0
    if not fastest_common >= at:
        errors = {p.error for p in curves[keys.index(slowest)][1] if p.error}
        why = f"fails: {errors.pop()}" if errors and not fastest_common else f"reaches at most {fastest_common:.1f} tok/s/user"
        message = (f"the hybrid of A with B's {', '.join(sorted(slowest)) or 'nothing'} ({physical[slowest][1].name}) {why}; "
                   f"choose a lower --interactivity than {interactivity:g}")
        if not or_lower or not fastest_common > 0:
            raise ConfigError(message)
        at = fastest_common * 0.99
        curves = _curves(lanes, runner, at)
    tput_of = {k: curves[i][0].tput_at(at) for i, k in enumerate(keys)}
    tput, cost, notes = {}, {}, {}
    for s in subsets:
        k = names[s] - {"price"}
        price = (b if "price" in names[s] else a).price
        tput[s], notes[s] = tput_of[k], physical[k][2]
        cost[s] = price / (tput_of[k] * 3600 / 1e6)
    return Waterfall(a, b, at, factors, tput, cost, notes, requested=interactivity)


def _curves(lanes: list[Lane], runner: Runner, interactivity: float) -> list[tuple[Frontier, list]]:
    """Each lane's own frontier, climbed until it serves users more slowly than ``interactivity``."""
    points, _ = climb(lanes, runner, min_interactivity=interactivity * 0.9)
    out = []
    for lane_points in points:
        ok = [p for p in lane_points if p.ok]
        out.append((Frontier.of([p.interactivity for p in ok], [p.tput_per_gpu for p in ok]), lane_points))
    return out


def table(w: Waterfall) -> str:
    n = len(w.factors)
    a, b = w.cost[frozenset()], w.cost[frozenset(range(n))]
    lower = f" (asked {w.requested:g}: not every hybrid reaches it)" if w.requested and w.requested != w.interactivity else ""
    lines = [f"at {w.interactivity:.4g} tok/s/user{lower}: A {w.a.label!r} ${a:.3f}/Mtok ({w.tput[frozenset()]:,.0f} tok/s/GPU), "
             f"B {w.b.label!r} ${b:.3f}/Mtok ({w.tput[frozenset(range(n))]:,.0f} tok/s/GPU): B/A = {b / a:.3g}x, gap {w.gap:+.3f} $/Mtok"]
    head = (f"{'factor':<34} {'x Shapley':>9} {'path':>7} {'min':>7} {'max':>7}   {'$ Shapley':>9} {'path':>8} {'min':>8} {'max':>8}")
    lines += [head, "-" * len(head)]
    m, d = w.multiplicative, w.additive
    for i, group in enumerate(w.factors):
        name = FACTORS[group] if group in FACTORS else group
        lines.append(f"{name:<34} {m.shapley[i]:>9.3g} {m.path[i]:>7.3g} {m.ranges[i][0]:>7.3g} {m.ranges[i][1]:>7.3g}   "
                     f"{d.shapley[i]:>+9.3f} {d.path[i]:>+8.3f} {d.ranges[i][0]:>+8.3f} {d.ranges[i][1]:>+8.3f}")
    for s, note in w.notes.items():
        if note and len(s) == 1:
            lines.append(f"note: with B's {w.factors[next(iter(s))]}, {note}")
    return "\n".join(lines)


def rows(w: Waterfall) -> list[dict]:
    out = []
    m, d = w.multiplicative, w.additive
    for i, group in enumerate(w.factors):
        out.append({"factor": group, "label": " + ".join(FACTORS[f] for f in group.split("+")),
                    "multiplier_shapley": m.shapley[i], "multiplier_path": m.path[i], "multiplier_min": m.ranges[i][0],
                    "multiplier_max": m.ranges[i][1], "usd_per_mtok_shapley": d.shapley[i], "share_of_gap": d.shapley[i] / w.gap if w.gap else 0.0,
                    "usd_per_mtok_path": d.path[i], "usd_per_mtok_min": d.ranges[i][0], "usd_per_mtok_max": d.ranges[i][1]})
    return out


def hybrid_rows(w: Waterfall) -> list[dict]:
    return [{"switched_to_b": "+".join(w.factors[i] for i in sorted(s)) or "(A)", "tput_per_gpu_tok_s": w.tput[s],
             "cost_usd_per_mtok": w.cost[s], "note": w.notes[s]} for s in sorted(w.cost, key=lambda s: (len(s), sorted(s)))]


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.waterfall", description=__doc__.splitlines()[0])
    parser.add_argument("a", help='deployment A: "OVERRIDES" or a conf/deployment name')
    parser.add_argument("b", help="deployment B, of the same model")
    parser.add_argument("--interactivity", type=float, default=50.0, help="tokens/s per user the costs are compared at (default 50)")
    parser.add_argument("--common", default="", help='overrides for both, e.g. "model=deepseek_r1 workload.input_tokens=8192"')
    parser.add_argument("--factors", default=",".join(FACTORS), help=f"the factors in path order (default {','.join(FACTORS)})")
    parser.add_argument("--or-lower", action="store_true", help="if a hybrid cannot serve that interactivity, compare at the fastest all reach")
    parser.add_argument("--processes", type=positive_number(int), default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/waterfall"))
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out, "--out")
        if not args.interactivity > 0:
            raise ConfigError(f"--interactivity {args.interactivity} must be positive (tokens/s per user)")
        a, b = sides(args.a, args.b, shlex.split(args.common))
        with Runner(args.processes) as runner:
            w = decompose(a, b, args.interactivity, [f for f in args.factors.split(",") if f], runner, args.or_lower)
    except (ConfigError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "waterfall.csv", rows(w))
    write_csv(args.out / "hybrids.csv", hybrid_rows(w))
    plot_waterfall(w, [row["label"] for row in rows(w)], args.out / "waterfall")
    print(table(w))
    print(f"wrote {args.out / 'waterfall.csv'}, hybrids.csv and waterfall.png/.pdf")
    return 0

