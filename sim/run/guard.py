"""The command line's guard: a configuration describes a fleet; it never runs code or reads the environment.

Hydra instantiates ``hydra.callbacks`` (any importable callable, ``shutil.copyfile`` as well as a
logger) from any config file or override before the task function runs, a logging config can name a
factory to call (``()``) or a file to write, ``hydra.job.env_set`` sets environment variables, a SLURM
launcher's ``setup`` runs shell commands, ``--experimental-rerun`` unpickles a file, and OmegaConf's
``${oc.env:NAME}`` copies an environment variable into the configuration, and so into
``config_resolved.yaml`` and the printed summary. :func:`checked` wraps the Hydra app of ``python -m sim``:
before Hydra runs anything it composes the configuration from the same command line, as Hydra will (for
a sweep, once per combination of the config files its sweep values select), and refuses, with one line
naming the key and the fix:

* ``hydra.callbacks`` but the project's own (:data:`PROJECT_CALLBACKS`: a sweep's progress and exit
  status, declared in ``conf/config.yaml``), ``hydra.job.env_copy`` and ``hydra.job.env_set``;
* any ``_target_`` but Hydra's own launcher and sweeper plugins (``hydra/launcher=joblib``), and launcher
  options that run shell commands (``hydra.launcher.setup``) or hold a line break;
* a logging config other than Hydra's shipped ones (``hydra/job_logging=default``, ``disabled``, ...);
* every interpolation resolver but ``now`` and ``hydra`` (the date and Hydra's own run values) in a
  config or an override: ``oc.env`` and any other that reads outside the configuration;
* ``--experimental-rerun`` (a pickle: code, not a configuration).

It also turns Hydra's composition errors (an unknown config option, a malformed override) into one line,
checks that the output folder (``hydra.run.dir``, ``hydra.sweep.dir``) can be written before any job, and
builds a single run's fleet (:func:`sim.run.simulation.build`) before Hydra creates its folder.
:func:`check_job` repeats the configuration check in every job, on the configuration Hydra composed for it.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, NoReturn

from omegaconf import DictConfig, OmegaConf

from sim.base.config import ConfigError, to_sim_config
from sim.base.errors import InputError, report
from sim.base.files import check_output_dir

#: Interpolation resolvers a configuration may use: the clock (output folder names) and Hydra's run values.
ALLOWED_RESOLVERS = ("now", "hydra")
#: Where a ``_target_`` may appear, and the code it may name: Hydra's own plugins (Hydra itself allows
#: no other module there).
PLUGIN_KEYS = ("hydra.launcher._target_", "hydra.sweeper._target_")
PLUGIN_MODULES = ("hydra._internal.core_plugins.", "hydra_plugins.")
#: The Hydra callbacks the project ships (``conf/config.yaml``), each a ``_target_`` with no arguments.
PROJECT_CALLBACKS = ("sim.run.job.SweepCallback",)
_RESOLVER = re.compile(r"\$\{\s*([^:{}\s]+)\s*:")
#: Keys no override may set: code, files written by logging, environment variables, shell commands.
FORBIDDEN_KEYS = ("hydra.callbacks", "hydra.job.env_copy", "hydra.job.env_set", "hydra.job_logging", "hydra.hydra_logging",
                  "hydra.launcher.setup")
#: The logging config groups: a run may use only the options Hydra ships (their files, unchanged).
LOGGING_GROUPS = ("job_logging", "hydra_logging")


def _refuse(where: str, what: str, fix: str) -> None:
    raise ConfigError(f"{where} {what}: configurations here describe a fleet and never run code or read the environment; {fix}")


def check_value(where: str, value: Any) -> None:
    """Refuse a string that calls a resolver other than :data:`ALLOWED_RESOLVERS`."""
    if isinstance(value, str):
        for name in _RESOLVER.findall(value):
            if name not in ALLOWED_RESOLVERS:
                _refuse(f"{where}={value}", f"calls the resolver {name!r}", "write the value itself instead of an interpolation")


def check_override(override: str, where: str = "override") -> None:
    """Refuse a command-line (or sweep) override that sets code to run, files to write or the environment."""
    key, _, value = override.partition("=")
    key = key.lstrip("+~").strip()
    parts = key.replace("/", ".").split(".")
    forbidden = "/" not in key and any(key == k or key.startswith(k + ".") for k in FORBIDDEN_KEYS)  # a group choice: its file is checked
    if "_target_" in parts or "()" in parts or forbidden:
        fix = "remove it" + ("; choose a logging config Hydra ships instead (hydra/job_logging=default, disabled, none or stdout)"
                             if "logging" in key else "")
        _refuse(f"{where} {override!r}", "names code to run, files to write or environment to set", fix)
    check_value(f"{where} {key}", value)


@functools.lru_cache(maxsize=None)
def shipped_logging(group: str) -> dict[str, str]:
    """Hydra's own options of a logging group (``job_logging``: default, disabled, none, stdout), each as JSON."""
    import hydra
    import yaml

    folder = Path(hydra.__file__).parent / "conf" / "hydra" / group
    return {path.stem: json.dumps(yaml.safe_load(path.read_text()), sort_keys=True) for path in sorted(folder.glob("*.yaml"))}


def check_logging(hydra_node: dict) -> None:
    """Refuse a logging config that is not one of Hydra's own, unchanged (a handler writing any file, a factory)."""
    for group in LOGGING_GROUPS:
        shipped = shipped_logging(group)
        if group in hydra_node and json.dumps(hydra_node[group], sort_keys=True) not in shipped.values():
            _refuse(f"hydra.{group}", "is not a logging config Hydra ships (its handlers could write any file or call code)",
                    f"remove it, or choose one of Hydra's: hydra/{group}={'|'.join(shipped)}")


def check_launcher(launcher: dict) -> None:
    """Refuse launcher options that run commands or cannot work: ``setup`` (shell commands before each SLURM
    job), a line break in any option (a new line of the job script), joblib's ``n_jobs=0``."""
    if launcher.get("setup"):
        _refuse("hydra.launcher.setup", "runs shell commands before each job", "remove it (install the project on the nodes instead)")
    for where, _, value in _walk(launcher, "hydra.launcher"):
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            _refuse(f"{where}={value!r}", "holds a line break (a new line of the job script)", "remove the line break")
    n_jobs = launcher.get("n_jobs")
    if str(launcher.get("_target_", "")).startswith("hydra_plugins.hydra_joblib_launcher") and n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0
    ):
        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs} is not allowed: joblib needs a whole number of worker processes, "
                          "not 0 (-1: one per core); set hydra.launcher.n_jobs=2, say")


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every entry of a container tree, list items included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
        yield where, str(key), value
        yield from _walk(value, where)


def check_config(cfg: DictConfig | dict) -> None:
    """Refuse a composed configuration (Hydra's node included) that would run code or read the environment."""
    tree = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=False)
    hydra = tree.get("hydra") or {}
    shipped = set()
    for name, spec in (hydra.get("callbacks") or {}).items():
        target = spec.get("_target_", "?") if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and set(spec) == {"_target_"} and target in PROJECT_CALLBACKS:
            shipped.add(f"hydra.callbacks.{name}._target_")
            continue
        where, fix = f"hydra.callbacks.{name} (_target_={target})", "remove hydra.callbacks from the config file or override that sets it"
        _refuse(where, "would run when the job starts", fix)
    for key, what in (("env_copy", "copies environment variables into the outputs"), ("env_set", "sets environment variables")):
        if (hydra.get("job") or {}).get(key):
            _refuse(f"hydra.job.{key}", what, "remove it")
    for where, key, value in _walk(tree):
        if key == "_target_" and where not in shipped and not (where in PLUGIN_KEYS and str(value).startswith(PLUGIN_MODULES)):
            _refuse(f"{where}={value}", "names code to run", "remove it (this project's configs use no _target_)")
        if key == "()":
            _refuse(f"{where}={value}", "names a factory to call", "remove it")
        check_value(where, value)
    check_logging(hydra)
    check_launcher(hydra.get("launcher") or {})
    for key, value in ((hydra.get("sweeper") or {}).get("params") or {}).items():
        check_override(f"{key}={value}", "hydra.sweeper.params")


class Composed(NamedTuple):
    """What a command line composes to: the configuration (Hydra's node included), whether it is a sweep,
    and for a sweep the configurations of its jobs, one per combination of the config files they load."""

    cfg: DictConfig
    multirun: bool
    variants: list[DictConfig]


def compose(argv: list[str], app: Callable) -> Composed | None:
    """The configuration Hydra will compose from this command line; None for a command that runs no job
    (--help, --hydra-help, shell completion)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import (
        create_automatic_config_search_path,
        detect_calling_file_or_module_from_task_function,
        get_args_parser,
    )
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    parser = get_args_parser()
    parser.prog = "python -m sim"

    def one_line(message: str) -> NoReturn:
        raise InputError(f"{parser.prog}: {message}; check the command against {parser.prog} --help")

    parser.error = one_line  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    if args.help or args.hydra_help or args.shell_completion:
        return None
    if args.experimental_rerun is not None:
        raise InputError(
            f"--experimental-rerun {args.experimental_rerun}: a pickled file can run any code when loaded, so it is refused; "
            "rerun the command itself (a job's overrides are in its .hydra/overrides.yaml)"
        )
    for override in args.overrides:
        check_override(override)
    options = getattr(app, "hydra_options", {})  # set by checked()
    task = getattr(app, "__wrapped__", app)
    calling_file, calling_module = detect_calling_file_or_module_from_task_function(task)
    search_path = create_automatic_config_search_path(calling_file, calling_module, args.config_path or options["config_path"])
    if args.config_dir is not None:
        folder = Path(args.config_dir).absolute()
        if not folder.is_dir():
            raise InputError(f"--config-dir {args.config_dir}: no such folder; give the folder that holds your configs")
        search_path.prepend(provider="command-line", path=f"file://{folder}", anchor=SearchPathQuery(provider="schema"))
    hydra = Hydra(task_name="guard", config_loader=ConfigLoaderImpl(config_search_path=search_path))
    config_name = args.config_name or options["config_name"]

    def composed(overrides: list[str]) -> DictConfig:
        try:
            return hydra.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN, with_log_configuration=False,
                                        validate_sweep_overrides=False)
        except (ConfigError, InputError):
            raise
        except Exception as err:  # noqa: BLE001 - Hydra and OmegaConf fail on some overrides with any exception
            if any(o.lstrip("+~").startswith("hydra.sweeper.params") for o in overrides):
                raise InputError(
                    "hydra.sweeper.params cannot be set on the command line (Hydra leaves it empty until a config file "
                    "sets it): sweep the keys themselves (python -m sim -m seed=1,2) or set hydra.sweeper.params in an "
                    "experiment file"
                ) from None
            raise composition_error(err) from None

    cfg = composed(list(args.overrides))
    multirun = bool(args.multirun) or cfg.hydra.mode == RunMode.MULTIRUN
    if not multirun:  # a sweep override without --multirun: Hydra's own message, before Hydra runs
        parsed = OverridesParser.create().parse_overrides(list(args.overrides))
        ConfigLoaderImpl.validate_sweep_overrides_legal(parsed, run_mode=RunMode.RUN, from_shell=True)
        return Composed(cfg, False, [])
    check_config(cfg)  # before its sweep parameters are read
    return Composed(cfg, True, [composed(job) for job in sweep_variants(hydra.config_loader, cfg, list(args.overrides))])


def sweep_variants(loader: Any, cfg: DictConfig, overrides: list[str]) -> list[list[str]]:
    """The overrides of one job per combination of the config files a sweep's values select (its sweeps of
    config groups: ``+experiment=a,b``, from the command line or ``hydra.sweeper.params``), as Hydra's basic
    sweeper splits them; other sweep values load no file and are checked as text (:func:`check_override`).
    Hydra composes each job's configuration only when the job starts, so these are checked here, first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=False) if "sweeper" in cfg.hydra else {}
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    fixed: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader=loader).parse_overrides([*params, *overrides]):
        key = override.get_key_element()  # the command line wins over the params, as in the sweeper
        fixed.pop(key, None)
        groups.pop(key, None)
        if not override.is_sweep_override():
            fixed[key] = [override.input_line]
        elif override.is_discrete_sweep():
            values = [f"{key}={value}" for value in override.sweep_string_iterator()]
            if loader.repository.group_exists(override.key_or_group):
                groups[key] = values
            else:
                fixed[key] = values[:1]
    if not groups:
        return []
    base = [item for values in fixed.values() for item in values]
    return [[*base, *combination] for combination in itertools.product(*groups.values())]


def composition_error(err: Exception) -> ConfigError:
    """Hydra's composition errors (an unknown option, an override of a missing key, a malformed override) on one line."""
    cause = str(err.__cause__).strip().splitlines()[:1] if err.__cause__ else []  # e.g. the key a schema lacks
    lines = [line.strip() for line in [*str(err).splitlines(), *cause] if line.strip()]
    keep = [line for line in lines if not line.startswith(("full_key:", "reference_type", "object_type", "provider=", "Config search path"))]
    options = [line for line in keep if not line.endswith((".", ":")) and " " not in line]
    text = "; ".join(line.rstrip(".") for line in keep if line not in options)
    if options:
        text += " (" + ", ".join(options) + ")"
    return ConfigError(text + ("" if "use" in text.lower() else "; check the spelling against conf/ and sim/base/config.py"))


def check_command_line(argv: list[str], app: Callable) -> None:
    """Everything :func:`checked` refuses, as a :class:`ConfigError` or :class:`InputError`."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        composed = compose(argv, app)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        if isinstance(err, (ConfigError, InputError)):
            raise
        raise composition_error(err) from None
    if composed is None:
        return
    cfg, multirun, variants = composed
    for config in (cfg, *variants):
        check_config(config)
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    at_run_time = any("${hydra:" in str(value) for _, _, value in _walk(OmegaConf.to_container(job, resolve=False)))
    if not multirun and not at_run_time:  # the fleet can be built (schema, ranges, physics), before Hydra creates the run's folder
        from sim.run.simulation import build

        build(to_sim_config(job))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        folder = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except OmegaConfBaseException:
        return  # resolved by Hydra alone (a ${hydra:...} value): Hydra reports its own failure
    if folder is None or not str(folder).strip():
        raise InputError(f"{key}={folder if folder is not None else ''} is empty: the outputs would land in the current folder; give a folder, e.g. {key}=outputs/mine")
    check_output_dir(str(folder), key)


def check_job(cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """In a job, before it writes anything: the configuration Hydra composed for it passes :func:`check_config`
    (a second line behind the command line's check)."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    tree["hydra"] = OmegaConf.to_container(hydra_cfg, resolve=False)
    check_config(tree)


def checked(config_path: str, config_name: str) -> Callable[[Callable], Callable]:
    """Decorate a ``@hydra.main`` app: its command line is checked (:func:`check_command_line`) before
    Hydra composes, instantiates or writes anything; a refusal is one line on stderr and exit status 2."""

    def decorate(app: Callable) -> Callable:
        app.hydra_options = {"config_path": config_path, "config_name": config_name}  # type: ignore[attr-defined]

        @functools.wraps(app)
        def run(*args: Any, **kwargs: Any) -> Any:
            if not args and not kwargs:  # called as the program (a passed-in config is the caller's)
                try:
                    check_command_line(sys.argv[1:], app)
                except Exception as err:  # noqa: BLE001 - every refusal and defect reported on one line
                    sys.exit(report(err))
            return app(*args, **kwargs)

        return run

    return decorate
