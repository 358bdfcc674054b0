"""Calibration of the performance model: ``python -m sim.calibrate CASES.csv [--points POINTS.csv] --name NAME [--replace]``.

What the kernels and the fabric achieve is not fitted here: it comes from published microbenchmarks
(``platform.kernels``, ``platform.topology``; ``python -m sim.validate --ops`` checks them). What is left for an
end-to-end fit is what no microbenchmark measures, a few factors per GPU generation
(:class:`sim.base.config.EfficiencyConfig`):

* ``compute_scale``, ``memory_scale``: how much of the kernels' GEMM throughput and HBM bandwidth a serving
  stack keeps (1: all of it; far from 1 is missing physics, reported as such);
* ``launch_scale``: a kernel's fixed cost in serving over the microbenchmarks' floor (CUDA graphs and fusion
  bring it below 1), which with the model's depth sets the fixed cost of a pass through the layers;
* ``iteration_overhead_s``: the engine's scheduling and sampling per iteration;

and, shared by every generation, ``attention_scale`` and ``mtp_acceptance_rate`` (the chance a draft token is
accepted). Fixed costs per layer and per iteration are separable only because the data hold models of
different depths (DeepSeek-R1 61 layers, gpt-oss-120b 36, Llama-3.3-70B 80).

The data: the benchmark cases (a fully specified layout each), and with ``--points`` the measured frontier
points, each turned into a case at the layout and concurrency a reference search under the current
calibration reads it at (:mod:`sim.planning.point_cases`). A generation with at least
:data:`MIN_CASES_PER_GENERATION` cases gets factors of its own; the others take the ``fallback``: the factors of
the generation with the most data. Generations are fitted one after the other, the largest first with the
shared factors, the others with them held. Each fit minimises the squared log errors of throughput per GPU and
interactivity with a robust (soft-L1) loss (scipy.optimize.least_squares, in log space, within physical bounds),
starting from the calibration in force (the fit is local, and the fixed costs trade against each other: a refit
continues where the last one ended; ``--fresh`` starts from each factor's default). The factors' uncertainty is
the Gauss-Newton covariance at the solution scaled by the residuals' variance, written beside them as a
standard deviation of the log (``uncertainty``). ``--cross-validate`` also predicts each
generation's data with the factors of the others (what a platform no measurement covers should expect), and
each model's with a refit on the other models' data, started from the full fit (what a model no measurement
covers should expect); ``--cross-validate HELD_OUT ...`` only those platforms, generations or models.
Predictions never use any measured value of the case itself.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import yaml
from omegaconf import OmegaConf
from scipy.optimize import least_squares

from sim.base.config import CONFIG_DIR
from sim.base.errors import CommandParser, InputError, positive_number, run_command
from sim.base.files import atomic_write_text, read_text
from sim.base.progress import Progress
from sim.fidelity.cases import BenchmarkCase, Prediction, RowProblem, _predict_star, read_cases, summary

#: Factors of each generation: (name, lower bound, upper bound, start). A scale's bounds say what serving can
#: plausibly keep of a microbenchmark (GEMMs and attention: at most all of it; HBM reads: up to twice, production
#: kernels reading better than some benchmarked ones); a fit at a bound is reported as missing physics.
PARAMETERS = (
    ("compute_scale", 0.2, 1.0, 0.8),
    ("memory_scale", 0.33, 2.0, 1.0),
    ("launch_scale", 0.05, 3.0, 0.6),
    ("iteration_overhead_s", 1e-5, 1e-2, 5e-4),
)
#: Factors shared by every generation, fitted with the generation that has the most data.
SHARED = (
    ("attention_scale", 0.2, 1.0, 0.8),
    ("mtp_acceptance_rate", 0.3, 0.95, 0.7),
)
MIN_CASES_PER_GENERATION = 6
#: What a factor at its bound means physically (the note the fit prints).
AT_BOUND = {
    "compute_scale": "GEMMs in serving far from what their kernels reach: a missing cost proportional to FLOPs",
    "memory_scale": "HBM reads far from what kernels reach: a missing cost proportional to bytes (or bytes not counted)",
    "launch_scale": "fixed costs per layer far from the kernels' floor: kernels per layer miscounted, or a fixed cost missing",
    "iteration_overhead_s": "the per-iteration overhead absorbs something else: a fixed cost of the iteration missing, or too much fixed cost elsewhere",
    "attention_scale": "attention far from its kernels' figures",
    "mtp_acceptance_rate": "the draft acceptance absorbs something else",
}


def generation_of(platform: str) -> str:
    """The GPU generation of a platform of ``conf/platform`` ("unknown" for a name that is none of them)."""
    path = Path(CONFIG_DIR) / "platform" / f"{platform}.yaml"
    if not re.fullmatch(r"\w+", platform) or not path.is_file():
        return "unknown"
    return str(OmegaConf.load(path).get("generation", "unknown"))


def overrides_for(values: dict[str, float]) -> tuple[str, ...]:
    """Config overrides that set one generation's factors (as the fallback) on top of the uncalibrated defaults."""
    out = ["calibration=uncalibrated", f"calibration.mtp_acceptance_rate={float(values['mtp_acceptance_rate'])!r}"]
    out += [f"calibration.fallback.{key}={float(values[key])!r}" for key, *_ in PARAMETERS + SHARED if key != "mtp_acceptance_rate"]
    return tuple(out)


def residuals(predictions: list[Prediction]) -> np.ndarray:
    """Log errors of throughput per GPU and interactivity, two per case (large for a failed case)."""
    out = []
    for p in predictions:
        if p.ok:
            out += [np.log(p.tput_per_gpu / p.case.tput_per_gpu), np.log(p.interactivity / p.case.interactivity)]
        else:
            out += [5.0, 5.0]
    return np.array(out)


def factor_values(names: list[str], theta: np.ndarray) -> dict[str, float]:
    """The factors of log-values ``theta``, within their bounds exactly (exp(log(3)) is 3.0000000000000004,
    which the schema would refuse)."""
    bounds = {name: (lo, hi) for name, lo, hi, _ in PARAMETERS + SHARED}
    return {n: float(np.clip(np.exp(x), *bounds[n])) for n, x in zip(names, theta)}


def _fit_one(pool, cases, names, fixed: dict, max_evaluations: int, label: str, log, begin: dict | None = None) -> tuple[dict, dict, list[Prediction]]:
    """Fit ``names`` (of PARAMETERS + SHARED) to ``cases`` with ``fixed`` held, from ``begin`` (name -> value; else
    each factor's start): (values, log sd, predictions)."""
    table = {name: (lo, hi, x0) for name, lo, hi, x0 in PARAMETERS + SHARED}
    lower, upper = np.log([table[n][0] for n in names]), np.log([table[n][1] for n in names])
    start = np.clip(np.log([(begin or {}).get(n, table[n][2]) for n in names]), lower + 1e-6, upper - 1e-6)
    evaluations = 0

    def evaluate(theta: np.ndarray) -> list[Prediction]:
        values = {**fixed, **factor_values(names, theta)}
        jobs = [(case, overrides_for(values), None) for case in cases]
        return pool.map(_predict_star, jobs, chunksize=1)

    with Progress(f"calibrating {label}", unit="evaluations") as progress:

        def objective(theta: np.ndarray) -> np.ndarray:
            nonlocal evaluations
            evaluations += 1
            progress.update(evaluations)
            return residuals(evaluate(theta))

        # least_squares counts its steps, not the Jacobian's evaluations (one per factor): cap the steps so the
        # evaluations stay within max_evaluations
        steps = max(1, max_evaluations // (len(names) + 1))
        # and stop once a step gains less than 0.1 % of the cost or moves the factors by less than 0.1 %: finer is
        # below what the simulated cases resolve (each is a finite run), and a warm start then ends in a few steps
        result = least_squares(objective, start, bounds=(lower, upper), loss="soft_l1", f_scale=0.1, diff_step=0.05,
                               max_nfev=steps, x_scale=1.0, ftol=1e-3, xtol=1e-3)
    values = {**fixed, **{n: float(f"{v:.4g}") for n, v in factor_values(names, result.x).items()}}
    sd = log_sd(result.jac, result.fun, names)
    for n, x in zip(names, result.x):
        if min(x - np.log(table[n][0]), np.log(table[n][1]) - x) < 0.02:
            log(f"  {label}: {n} = {np.exp(x):.4g} sits at its bound: missing physics? {AT_BOUND[n]}")
    if result.status == 0:  # least_squares ran out of steps before its tolerances were met
        log(f"  {label}: stopped at its budget ({evaluations} evaluations) before converging; the factors are the best found"
            " so far: pass a larger --max-evaluations (or install this fit as default.yaml and refit: a refit starts from it)")
    log(f"  {label}: {evaluations} evaluations, rms log error {np.sqrt(np.mean(result.fun ** 2)):.3f}")
    return values, sd, evaluate(np.log([values[n] for n in names]))


def log_sd(jac: np.ndarray, fun: np.ndarray, names: list[str]) -> dict[str, float]:
    """Standard deviation of each fitted log-factor: the Gauss-Newton covariance (J'J)^-1 s^2, with s the residuals'
    robust scale (1.4826 x their median absolute value: a few points no factor explains do not inflate it); a factor
    the data cannot identify gets a large one (at most 5, as written)."""
    s2 = float(1.4826 * np.median(np.abs(fun))) ** 2
    cov = np.linalg.pinv(jac.T @ jac) * s2
    return {n: float(f"{min(5.0, np.sqrt(max(0.0, cov[i, i]))):.3g}") for i, n in enumerate(names)}


def by_generation(cases: list[BenchmarkCase]) -> dict[str, list[BenchmarkCase]]:
    groups: dict[str, list[BenchmarkCase]] = {}
    for case in cases:
        groups.setdefault(generation_of(case.platform), []).append(case)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def fit(cases, processes: int | None = None, max_evaluations: int = 70, log=print, begin: dict | None = None) -> tuple[dict, list[Prediction]]:
    """Fit the factors to ``cases``: ``{"generations": {gen: values}, "fallback": values, "uncertainty": {gen: sd},
    "mtp_acceptance_rate": x}`` and the predictions they give, in the cases' order; ``begin``: a previous fit to
    start from (a refit without some of the data converges in a few steps)."""
    groups = by_generation(cases)
    names = [n for n, *_ in PARAMETERS]
    processes = min(processes or os.cpu_count() or 1, max(len(g) for g in groups.values()))
    fitted: dict[str, dict] = {}
    uncertainty: dict[str, dict] = {}
    predictions: dict[int, Prediction] = {}
    shared: dict[str, float] = {}
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for generation, members in groups.items():
            if len(members) < MIN_CASES_PER_GENERATION:
                log(f"  {generation}: {len(members)} cases, fewer than {MIN_CASES_PER_GENERATION}: the fallback's factors")
                continue
            free = names + ([n for n, *_ in SHARED] if not shared else [])
            first = None if begin is None else {**factors_of(begin, generation), **{n: begin[n] for n, *_ in SHARED if n in begin}}
            values, sd, preds = _fit_one(pool, members, free, shared, max_evaluations, f"{generation} ({len(members)} cases)", log, first)
            log(f"  {generation}: " + ", ".join(f"{n} {values[n]:.4g} (+-{100 * sd[n]:.0f}%)" for n in free))
            if not shared:
                shared = {n: values[n] for n, *_ in SHARED}
            fitted[generation], uncertainty[generation] = {n: values[n] for n in names}, sd
            predictions.update({id(c): p for c, p in zip(members, preds)})
        if not fitted:
            raise InputError(f"no GPU generation has {MIN_CASES_PER_GENERATION} cases to fit on; add cases (or --points)")
        fallback = next(iter(fitted))
        result = {"generations": fitted, "fallback": fallback, "uncertainty": uncertainty, **shared}
        rest = [c for c in cases if id(c) not in predictions]
        predictions.update({id(c): p for c, p in zip(rest, predict(pool, rest, result))})
    ordered = [predictions[id(c)] for c in cases]
    medians = {g: summary([p for p in ordered if generation_of(p.case.platform) == g])["median_abs_pct_err_tput"] for g in fitted}
    result["errors"] = {g: e for g, e in medians.items() if e is not None}
    return result, ordered


def factors_of(result: dict, generation: str) -> dict[str, float]:
    """The factors a fit gives ``generation``: its own, or the fallback's."""
    return dict(result["generations"].get(generation, result["generations"][result["fallback"]]))


def factors_in_force() -> dict | None:
    """The calibration in force (``conf/calibration/default.yaml``) as a fit's result, for a refit to start from
    (None if it holds no factors)."""
    try:
        doc = yaml.safe_load((Path(CONFIG_DIR) / "calibration" / "default.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("fallback"), dict):
        return None
    names = [n for n, *_ in PARAMETERS]
    pick = lambda values: {n: float(values[n]) for n in names if isinstance(values.get(n), (int, float))}  # noqa: E731
    generations = {g: pick(v) for g, v in (doc.get("generations") or {}).items() if isinstance(v, dict)}
    generations["_fallback"] = pick(doc["fallback"])
    shared = {"attention_scale": doc["fallback"].get("attention_scale"), "mtp_acceptance_rate": doc.get("mtp_acceptance_rate")}
    return {"generations": generations, "fallback": "_fallback", **{k: float(v) for k, v in shared.items() if isinstance(v, (int, float))}}


def predict(pool, cases, result: dict) -> list[Prediction]:
    """``cases`` predicted with the factors ``result`` gives their generations (in their order)."""
    shared = {n: result[n] for n, *_ in SHARED}
    jobs = [(c, overrides_for({**factors_of(result, generation_of(c.platform)), **shared}), None) for c in cases]
    return pool.map(_predict_star, jobs, chunksize=1) if jobs else []


def held_out(data: list[tuple[str, str]], names: list[str]) -> tuple[list[str], list[str]]:
    """The generations and models ``--cross-validate HELD_OUT ...`` holds out, of ``data``'s (platform, model) pairs (a
    platform names its generation; no names: every generation and model with data), or an :class:`InputError`
    for a name with no data (before any fit)."""
    platforms = {platform: generation_of(platform) for platform, _ in data}
    generations = dict.fromkeys(platforms.values())
    models = dict.fromkeys(model for _, model in data)
    if not names:
        return list(generations), list(models)
    out_g, out_m = [], []
    for name in names:
        if name in generations or name in platforms:
            out_g.append(platforms.get(name, name))
        elif name in models:
            out_m.append(name)
        else:
            raise InputError(
                f"--cross-validate {name}: no case of the data is on that platform, generation or model, so nothing "
                f"would be predicted; name one with data: platforms {', '.join(sorted(platforms))}; generations "
                f"{', '.join(sorted(generations))}; models {', '.join(sorted(models))}"
            )
    return list(dict.fromkeys(out_g)), list(dict.fromkeys(out_m))


def cross_validate(cases, result: dict, processes: int | None = None, generations: list[str] | None = None) -> list[tuple[str, int, dict]]:
    """Leave one generation out: each generation's cases predicted with another generation's factors (the
    fallback's, or for the fallback's own generation the next largest), fitted without them: (label, cases, summary)."""
    groups = by_generation(cases)
    fitted = result["generations"]
    shared = {n: result[n] for n, *_ in SHARED}
    out = []
    with multiprocessing.get_context("spawn").Pool(min(processes or os.cpu_count() or 1, len(cases))) as pool:
        for generation, members in groups.items():
            others = [g for g in fitted if g != generation]
            if not others or (generations is not None and generation not in generations):
                continue
            jobs = [(c, overrides_for({**fitted[others[0]], **shared}), None) for c in members]
            out.append((f"{generation} (with {others[0]}'s factors)", len(members), summary(pool.map(_predict_star, jobs, chunksize=1))))
    return out


def cross_validate_models(cases, result: dict, models: list[str], processes: int | None = None, max_evaluations: int = 21,
                          log=print) -> list[tuple[str, int, dict]]:
    """Leave one model out: each model's cases predicted by a refit on the other models' cases (started from
    ``result``, at most ``max_evaluations`` simulations of each case per generation): (label, cases, summary)."""
    out = []
    for model in models:
        members = [c for c in cases if c.model == model]
        rest = [c for c in cases if c.model != model]
        if not members or not rest:
            continue
        log(f"leaving {model} out: refitting on the {len(rest)} cases of the other models ...")
        refit, _ = fit(rest, processes, max_evaluations, log=log, begin=result)
        with multiprocessing.get_context("spawn").Pool(min(processes or os.cpu_count() or 1, len(members))) as pool:
            out.append((f"{model} (fitted without it)", len(members), summary(predict(pool, members, refit))))
    return out


def write_calibration(path: Path, result: dict, command: str, fitted_on: str, stats: dict, crossval: list | None = None,
                      models: list[str] | None = None, model_crossval: list | None = None) -> None:
    shared = {"attention_scale": result["attention_scale"]}
    generations = {g: {**v, **shared} for g, v in result["generations"].items()}
    doc = {
        "name": path.stem,
        "command": command,
        "fallback": dict(generations[result["fallback"]]),  # a copy: the file repeats it rather than alias it
        "generations": generations,
        "uncertainty": result["uncertainty"],
        "mtp_acceptance_rate": float(f"{result['mtp_acceptance_rate']:.4g}"),
    }
    doc["errors"] = {g: float(f"{e:.3g}") for g, e in result.get("errors", {}).items()}
    for key, table in (("uncalibrated", crossval), ("unmeasured_model", model_crossval)):
        crossed = [s["median_abs_pct_err_tput"] for _, _, s in table or [] if s["n_simulated"]]
        if crossed:
            doc["errors"][key] = float(f"{np.median(crossed):.3g}")
    if models:
        doc["models"] = sorted(models)
    header = (
        f"# Serving factors fitted by `{command}`\n"
        f"# on {fitted_on} ({stats['n_simulated']} cases): median |error| throughput/GPU "
        f"{stats['median_abs_pct_err_tput']:.1f}%, interactivity {stats['median_abs_pct_err_interactivity']:.1f}%;\n"
        f"# max |error| {stats['max_abs_pct_err_tput']:.1f}% / {stats['max_abs_pct_err_interactivity']:.1f}%.\n"
        f"# A generation under `generations` was fitted on its own data; the others take `fallback` ({result['fallback']}'s).\n"
        "# `uncertainty`: the standard deviation of each fitted factor's log (0.1: about +-10 %); `errors`: each fitted\n"
        "# generation's median |error| of throughput per GPU in sample, and `uncalibrated`, the median of a generation\n"
        "# predicted with another's factors (--cross-validate): what a platform no measurement covers should expect;\n"
        "# `unmeasured_model`, the median of a model predicted by a fit without it: what a model outside `models` should expect.\n"
        "# Meanings: sim/base/config.py EfficiencyConfig and the README's calibration section.\n"
    )
    atomic_write_text(path, header + yaml.safe_dump(doc, sort_keys=False))


def calibration_path(name: str, replace: bool) -> Path:
    """Where ``--name NAME`` writes: a new file of ``conf/calibration/``, or with ``replace`` an existing one.
    Refused: a name that is not a plain file name (a path, ``..``), an existing file without ``replace``."""
    folder = Path(CONFIG_DIR) / "calibration"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise InputError(f"--name {name}: a calibration is named by letters, digits, _ and - (it is conf/calibration/NAME.yaml); choose such a name")
    path = folder / f"{name}.yaml"
    if path.exists() and not replace:
        raise InputError(
            f"--name {name}: conf/calibration/{name}.yaml exists" + (" (every run uses it)" if name == "default" else "")
            + "; choose a new name, or pass --replace to replace it (the old file is kept as a .bak beside it)"
        )
    return path


def back_up(path: Path) -> Path | None:
    """Copy an existing calibration file to ``NAME.yaml.TIMESTAMP.bak`` beside it; return the copy's path."""
    if not path.exists():
        return None
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    shutil.copy2(path, backup)
    return backup


def _print_summary(label: str, s: dict) -> None:
    if not s["n_simulated"]:
        print(f"  {label:<40} no case could be simulated")
        return
    print(f"  {label:<40} median |error| throughput/GPU {s['median_abs_pct_err_tput']:5.1f}%, interactivity "
          f"{s['median_abs_pct_err_interactivity']:5.1f}%; max {s['max_abs_pct_err_tput']:.1f}% / {s['max_abs_pct_err_interactivity']:.1f}%")


def main(argv: list[str] | None = None, points_as_cases: Callable | None = None) -> int:
    """``points_as_cases(path, calibration, processes)``: how ``--points`` become cases (the planning layer's
    :func:`sim.planning.point_cases.points_as_cases`, passed in by the command)."""
    parser = CommandParser(prog="python -m sim.calibrate", description="Fit the performance model's serving factors.")
    parser.add_argument("cases", type=Path, help="benchmark cases (the schema of data/reference/benchmark_cases.csv)")
    parser.add_argument("--points", type=Path, help="measured frontier points to fit on too (data/reference/frontier_points.csv)")
    parser.add_argument("--name", required=True, help="write conf/calibration/NAME.yaml, a new file (use it with calibration=NAME)")
    parser.add_argument("--replace", action="store_true", help="replace an existing NAME.yaml (default: the one every run uses), keeping it as a .bak")
    parser.add_argument("--cross-validate", nargs="*", metavar="HELD_OUT", default=None,
                        help="also predict each GPU generation with another's factors and each model with a fit without it "
                             "(HELD_OUT: only these platforms, generations or models; give the cases file first)")
    parser.add_argument("--fresh", action="store_true", help="start the fit from each factor's default, not from the calibration in force")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    parser.add_argument("--max-evaluations", type=positive_number(int), default=70,
                        help="simulations of every case per generation at most (a step of the fit costs one, plus one per factor)")
    args = parser.parse_args(argv)
    path = calibration_path(args.name, args.replace)  # before the fit: it takes minutes
    rows = read_cases(args.cases)
    for problem in (r for r in rows if isinstance(r, RowProblem)):
        print(f"skipping {problem}")
    cases = [r for r in rows if not isinstance(r, RowProblem)]
    if not cases:
        raise InputError(f"cases file {args.cases}: no row could be read as a case (see the lines above); fix them")
    crossing = args.cross_validate is not None
    if crossing:  # a name with no data is refused before minutes of fitting
        data = [(c.platform, c.model) for c in cases] + (platform_models(args.points) if args.points else [])
        held_generations, held_models = held_out(data, args.cross_validate)
    start = time.perf_counter()
    fitted_on = args.cases.name
    if args.points:
        if points_as_cases is None:
            raise InputError("--points needs the planning layer: run it as python -m sim.calibrate")
        print(f"reading {args.points} off the frontier of the current calibration ...")
        cases += points_as_cases(args.points, "default", args.processes)
        fitted_on += f" and {args.points.name}"
    print(f"fitting {len(PARAMETERS)} factors per GPU generation and {len(SHARED)} shared ones to {len(cases)} cases ...")
    begin = None if args.fresh else factors_in_force()
    result, predictions = fit(cases, args.processes, args.max_evaluations, begin=begin)
    stats = summary(predictions)
    command = f"python -m sim.calibrate {args.cases.as_posix()}" + (f" --points {args.points.as_posix()}" if args.points else "")
    command += f" --name {args.name}" + (" --replace" if args.replace else "") + (" --fresh" if args.fresh else "") + (" --cross-validate" if crossing else "")
    command += "".join(f" {name}" for name in args.cross_validate or [])
    backup = back_up(path)
    models = sorted({c.model for c in cases})
    write_calibration(path, result, command, fitted_on, stats, models=models)  # the fit is kept whatever follows
    crossval = model_crossval = None
    if crossing:
        crossval = cross_validate(cases, result, args.processes, held_generations)
        model_crossval = cross_validate_models(cases, result, held_models, args.processes, max(7, args.max_evaluations // 3))
        write_calibration(path, result, command, fitted_on, stats, crossval, models, model_crossval)
    print(f"done in {time.perf_counter() - start:.0f} s; wrote {path}" + (f" (the previous file is {backup.name})" if backup else ""))
    for generation, values in result["generations"].items():
        sd = result["uncertainty"][generation]
        print(f"  {generation}: " + ", ".join(f"{n} {v:.4g} (+-{100 * sd[n]:.0f}%)" for n, v in values.items()))
    print(f"  shared: attention_scale {result['attention_scale']:.4g}, mtp_acceptance_rate {result['mtp_acceptance_rate']:.4g}")
    print("in sample:")
    _print_summary("all cases", stats)
    for generation, members in by_generation(cases).items():
        _print_summary(f"{generation} ({len(members)} cases)", summary([p for p in predictions if generation_of(p.case.platform) == generation]))
    if crossval:
        print("cross-validated, leave one generation out (each predicted with another generation's factors):")
        for label, n, s in crossval:
            _print_summary(f"{label} ({n})", s)
    if model_crossval:
        print("cross-validated, leave one model out (each predicted by a fit on the other models):")
        for label, n, s in model_crossval:
            _print_summary(f"{label} ({n})", s)
    return 0


def platform_models(path: Path) -> list[tuple[str, str]]:
    """The (platform, model) pairs of a frontier points file's rows (for the names --cross-validate may hold out)."""
    rows = csv.DictReader(io.StringIO(read_text(path, "frontier points file"), newline=""))
    return [(row.get("platform") or "", row.get("model") or "") for row in rows if row.get("platform") and row.get("model")]


if __name__ == "__main__":
    sys.exit(run_command(main))
