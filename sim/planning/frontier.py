"""The throughput–interactivity frontier of a platform, model, precision and lengths:
``python -m sim.frontier platform=h200 model=deepseek_r1 precision=fp8 [overrides] [--out DIR]``.

Composes the configuration once per curve (``workload=benchmark`` plus the overrides: lengths with
``workload.input_tokens`` / ``workload.output_tokens``, prices with ``cost=...``), searches the layouts of
its space (:mod:`sim.planning.space`: the documented default, or ``--space FILE`` in the public
benchmark's schema) at rising concurrency (:mod:`sim.planning.search`), and writes into ``--out``:

* ``frontier.csv``: every point simulated: its curve, layout, concurrency, throughput per GPU,
  interactivity (mean-based and median-based), TTFT, cost per million tokens, tokens per MW
  (provisioned and drawn), whether it is on the curve's upper Pareto frontier;
* ``layouts.csv``: every layout of the space and what became of it (removed before simulating, with the
  constraint; why it stopped climbing);
* ``frontier_tput``, ``frontier_cost``, ``frontier_tokens_per_mw`` (PNG and PDF): the figures.

Several curves in one call overlay their frontiers: a comma list (``platform=h200,b200``,
``precision=fp8,fp4``) gives one curve per combination (combinations the platform cannot run are
skipped with the reason), and each ``--curve "OVERRIDES"`` adds one curve of its own. ``--at 40,75,116``
prints each curve's throughput, cost and tokens per MW at those interactivities, and its ratio to the
first curve.
"""

from __future__ import annotations

import csv
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sim.base.config import ConfigError, SimConfig, compose_config
from sim.base.errors import CommandParser, InputError, positive_number
from sim.base.files import atomic_path, check_output_dir
from sim.planning.frontier_plot import Curve, plot_frontiers
from sim.planning.layouts import Layout
from sim.planning.runs import Runner
from sim.planning.search import MAX_CONCURRENCY, MIN_INTERACTIVITY, SearchResult, search
from sim.planning.space import default_space, read_space

QUIET = ("output.figure=false", "output.requests_csv=false", "output.print_summary=false", "output.progress=false")
EXPANDED_KEYS = ("platform", "model", "precision")


def benchmark_config(*overrides: str) -> SimConfig:
    """A benchmark-mode configuration (composed once; points are derived from it by replacing fields)."""
    return compose_config("workload=benchmark", *overrides, *QUIET)


def expand(overrides: list[str]) -> list[list[str]]:
    """Override sets, one per combination of the comma lists given for platform, model or precision."""
    fixed, lists = [], []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in EXPANDED_KEYS and "," in value:
            lists.append([f"{key}={v}" for v in value.split(",") if v])
        else:
            fixed.append(item)
    return [fixed + list(combo) for combo in itertools.product(*lists)] if lists else [fixed]


def label_of(cfg: SimConfig, spec: str = "any") -> str:
    wl = cfg.workload
    lengths = f"{wl.input_tokens // 1024}k/{wl.output_tokens // 1024}k" if wl.input_tokens % 1024 == wl.output_tokens % 1024 == 0 else f"{wl.input_tokens}/{wl.output_tokens}"
    extra = {"mtp": ", MTP", "none": ", no MTP"}.get(spec, "")
    return f"{cfg.platform.name} {cfg.precision.name.upper()} {lengths}{extra}"


def check_precision(cfg: SimConfig) -> None:
    """A precision the platform cannot compute in: one clear line, before any layout is tried."""
    from sim.spec.platform import Platform
    from sim.spec.precision import Precision

    Platform.from_config(cfg.platform).peak_flops(Precision.from_config(cfg.precision).compute_dtype)


def space_for(base: SimConfig, space: Path | None = None, spec: str = "any", disagg: str = "any") -> list[Layout]:
    """The layouts to search: ``space`` (a benchmark's space file) filtered by ``spec`` and ``disagg``, or
    the default space; a :class:`ConfigError` if the file lists none for this curve."""
    if space is None:
        return default_space(base, spec, disagg)
    wl = base.workload
    layouts = read_space(space, base.platform.name, base.model.name, base.precision.name, wl.input_tokens, wl.output_tokens,
                         base.model.n_routed_experts > 0)
    layouts = [l for l in layouts if spec in ("any", l.spec) and disagg in ("any", "1" if l.disagg else "0")]
    if not layouts:
        raise ConfigError(
            f"{space} lists no layouts for {base.platform.name}/{base.model.name}/{base.precision.name} at "
            f"{wl.input_tokens}/{wl.output_tokens} tokens (spec {spec}, disagg {disagg}); drop --space for the default space"
        )
    return layouts


def frontier_for(base: SimConfig, runner: Runner, space: Path | None = None, spec: str = "any", disagg: str = "any", **options) -> SearchResult:
    """Search the frontier of ``base`` over its space (options: those of :func:`sim.planning.search.search`)."""
    check_precision(base)
    return search(base, space_for(base, space, spec, disagg), runner, **options)


def curve(label: str, result: SearchResult, spec: str = "any", disagg: str = "any") -> Curve:
    frontier, points = result.frontier(spec, disagg)
    return Curve(label, frontier, points)


@dataclass(frozen=True)
class Labelled:
    label: str
    result: SearchResult


POINT_COLUMNS = (
    "curve", "platform", "model", "precision", "isl", "osl", "layout", "disagg", "spec_decode", "prefill_workers", "prefill_tp",
    "prefill_ep", "prefill_dp_attn", "workers", "tp", "ep", "dp_attn", "gpus", "concurrency", "tput_per_gpu_tok_s",
    "interactivity_tok_s_user", "interactivity_p50_tok_s_user", "ttft_s_mean", "ttft_s_p99", "tpot_s_mean",
    "cost_usd_per_mtok", "tok_s_per_mw_provisioned", "tok_s_per_mw_drawn", "on_frontier", "error",
)


def point_rows(labelled: Labelled) -> list[dict]:
    """One row per point simulated, in the order of ``POINT_COLUMNS``."""
    res = labelled.result
    on = res.on_frontier()
    wl = res.base.workload
    rows = []
    for k, p in enumerate(res.points):
        L = p.layout
        row = {
            "curve": labelled.label, "platform": res.base.platform.name, "model": res.base.model.name,
            "precision": res.base.precision.name, "isl": wl.input_tokens, "osl": wl.output_tokens, "layout": L.name,
            "disagg": int(L.disagg), "spec_decode": L.spec, "prefill_workers": L.prefill_workers, "prefill_tp": L.prefill_tp,
            "prefill_ep": L.prefill_ep, "prefill_dp_attn": int(L.prefill_dp_attn), "workers": L.workers, "tp": L.tp,
            "ep": L.ep or L.tp, "dp_attn": int(L.dp_attn), "gpus": L.gpus, "concurrency": p.concurrency,
            "on_frontier": int(k in on), "error": p.error or "",
        }
        row.update({key: p.metrics.get(key, "") for key in POINT_COLUMNS if key not in row})
        rows.append(row)
    return rows


def layout_rows(labelled: Labelled) -> list[dict]:
    res = labelled.result
    rows = [{"curve": labelled.label, "layout": r.layout.name, "gpus": r.layout.gpus, "status": "removed", "reason": r.reason} for r in res.removed]
    seen = {}
    for p in res.points:
        seen.setdefault(p.layout.key(), p.layout)
    for key, L in seen.items():
        rows.append({"curve": labelled.label, "layout": L.name, "gpus": L.gpus, "status": "simulated", "reason": res.stopped.get(key, "")})
    return rows


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...] | None = None) -> None:
    columns = columns or tuple(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def write_outputs(out_dir: Path, results: list[Labelled], title: str) -> list[Path]:
    """frontier.csv, layouts.csv and the three figures of these curves."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "frontier.csv", [row for r in results for row in point_rows(r)], POINT_COLUMNS)
    write_csv(out_dir / "layouts.csv", [row for r in results for row in layout_rows(r)], ("curve", "layout", "gpus", "status", "reason"))
    return plot_frontiers([curve(r.label, r.result) for r in results], out_dir, title)


def at_table(curves: list[Curve], interactivities: list[float]) -> str:
    """Each curve's throughput, cost and tokens per MW at the interactivities, and its ratio to the first."""
    head = f"{'curve':<34} {'tok/s/user':>10} {'tok/s/GPU':>10} {'$/Mtok':>8} {'tok/s/MW':>11} {'x first':>8}"
    lines = [head, "-" * len(head)]
    for x in interactivities:
        ref = curves[0].frontier.tput_at(x)
        for c in curves:
            t = c.frontier.tput_at(x)
            if t is None:
                lines.append(f"{c.label:<34} {x:>10g} {'unreachable (fastest ' + format(c.frontier.max_interactivity, '.0f') + ')':>40}")
                continue
            ratio = f"{t / ref:>7.2f}x" if ref else f"{'-':>8}"
            lines.append(f"{c.label:<34} {x:>10g} {t:>10,.0f} {c.cost_at(x):>8.3f} {c.tok_s_per_mw_at(x):>11,.0f} {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.frontier", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. platform=h200 model=deepseek_r1 precision=fp8 workload.input_tokens=8192")
    parser.add_argument("--curve", action="append", default=[], help='one more curve: "OVERRIDES" added to the common ones')
    parser.add_argument("--space", type=Path, help="layouts and concurrencies in the schema of data/reference/benchmark_search_spaces.csv")
    parser.add_argument("--spec", choices=("any", "mtp", "none"), default="any", help="speculative decoding by MTP (default: both)")
    parser.add_argument("--disagg", choices=("any", "0", "1"), default="any", help="disaggregated prefill/decode (default: both)")
    parser.add_argument("--max-concurrency", type=positive_number(int, 10_000_000), default=MAX_CONCURRENCY)
    parser.add_argument("--min-interactivity", type=positive_number(), default=MIN_INTERACTIVITY, help="tok/s/user below which a layout stops")
    parser.add_argument("--no-prune", action="store_true", help="simulate dominated layouts too")
    parser.add_argument("--at", default="", help="interactivities to read the curves at, e.g. 40,75,116")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("outputs/frontier"))
    args = parser.parse_args(argv)
    check_output_dir(args.out, "--out")  # before any work: where the results go, and the space file
    if args.space is not None:
        read_space(args.space, "", "", "", 0, 0, moe=False)
    try:
        at = [float(x) for x in args.at.split(",") if x]
    except ValueError:
        raise InputError(f"--at {args.at}: give interactivities as numbers separated by commas, e.g. 40,75,116") from None
    override_sets = [s + c.split() for s in expand(args.overrides) for c in (args.curve or [""])]
    start = time.perf_counter()
    results: list[Labelled] = []
    with Runner(args.processes) as runner:
        for overrides in override_sets:
            try:
                base = benchmark_config(*overrides)
                result = frontier_for(base, runner, args.space, args.spec, args.disagg, max_concurrency=args.max_concurrency,
                                      min_interactivity=args.min_interactivity, prune=not args.no_prune)
            except (ConfigError, InputError) as err:
                print(f"skipped {' '.join(overrides)}:\n  {err}", file=sys.stderr)
                continue
            except Exception as err:  # Hydra's composition errors: an unknown option or key
                print(f"skipped {' '.join(overrides)}: {type(err).__name__}: {err}", file=sys.stderr)
                continue
            label = label_of(base, args.spec)
            results.append(Labelled(label, result))
            f, _ = result.frontier()
            print(f"{label}: {len(result.points)} points of {len({p.layout.key() for p in result.points})} layouts "
                  f"({len(result.removed)} removed before simulating), {len(f.xs)} on the frontier; "
                  f"{result.cpu_s:.0f} CPU s, {result.wall_s:.0f} s")
    if not results:
        print("error: no curve could be searched (see above)", file=sys.stderr)
        return 2
    base = results[0].result.base
    title = f"{base.model.name}: throughput-interactivity frontiers" if len(results) > 1 else f"{base.model.name}: {results[0].label}"
    paths = write_outputs(args.out, results, title)
    if at:
        print(at_table([curve(r.label, r.result) for r in results], at))
    print(f"wrote {args.out / 'frontier.csv'}, {args.out / 'layouts.csv'} and {len(paths)} figure files in {time.perf_counter() - start:.0f} s")
    return 0
