"""The command line's guard: a configuration describes a fleet; it never runs code or reads the environment.

Hydra instantiates ``hydra.callbacks`` (any importable callable, ``shutil.copyfile`` as well as a
logger) from any config file or override before the task function runs, a logging config can name a
factory to call (``()``), and OmegaConf's ``${oc.env:NAME}`` copies an environment variable into the
configuration, and so into ``config_resolved.yaml`` and the printed summary. :func:`checked` wraps the
Hydra app of ``python -m sim``: before Hydra runs anything it composes the configuration from the same
command line, as Hydra will, and refuses, with one line naming the key and the fix:

* ``hydra.callbacks`` but the project's own (:data:`PROJECT_CALLBACKS`: a sweep's progress and exit
  status, declared in ``conf/config.yaml``) and ``hydra.job.env_copy`` (environment into ``.hydra/``);
* any ``_target_`` but Hydra's own launcher and sweeper plugins (``hydra/launcher=joblib``);
* in logging configs, a factory (``()``) or a handler class outside Python's ``logging``;
* every interpolation resolver but ``now`` and ``hydra`` (the date and Hydra's own run values) in a
  config or an override: ``oc.env`` and any other that reads outside the configuration.

It also turns Hydra's composition errors (an unknown config option, a malformed override) into one line,
and checks that the output folder (``hydra.run.dir``, ``hydra.sweep.dir``) can be written before any job.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn

from omegaconf import DictConfig, OmegaConf

from sim.config import ConfigError, check_bounds, to_sim_config
from sim.errors import InputError, report
from sim.files import check_output_dir

#: Interpolation resolvers a configuration may use: the clock (output folder names) and Hydra's run values.
ALLOWED_RESOLVERS = ("now", "hydra")
#: Where a ``_target_`` may appear, and the code it may name: Hydra's own plugins (Hydra itself allows
#: no other module there).
PLUGIN_KEYS = ("hydra.launcher._target_", "hydra.sweeper._target_")
PLUGIN_MODULES = ("hydra._internal.core_plugins.", "hydra_plugins.")
#: The Hydra callbacks the project ships (``conf/config.yaml``), each a ``_target_`` with no arguments.
PROJECT_CALLBACKS = ("sim.job.SweepCallback",)
_RESOLVER = re.compile(r"\$\{\s*([^:{}\s]+)\s*:")
_LOGGING = ("hydra.job_logging", "hydra.hydra_logging")


def _refuse(where: str, what: str, fix: str) -> None:
    raise ConfigError(f"{where} {what}: configurations here describe a fleet and never run code or read the environment; {fix}")


def check_value(where: str, value: Any) -> None:
    """Refuse a string that calls a resolver other than :data:`ALLOWED_RESOLVERS`."""
    if isinstance(value, str):
        for name in _RESOLVER.findall(value):
            if name not in ALLOWED_RESOLVERS:
                _refuse(f"{where}={value}", f"calls the resolver {name!r}", "write the value itself instead of an interpolation")


def check_override(override: str, where: str = "override") -> None:
    """Refuse a command-line (or sweep) override that sets code to run or reads the environment."""
    key, _, value = override.partition("=")
    key = key.lstrip("+~").strip()
    parts = key.replace("/", ".").split(".")
    if "_target_" in parts or "()" in parts or key.startswith(("hydra.callbacks", "hydra.job.env_copy")) or parts[:2] == ["hydra", "callbacks"]:
        _refuse(f"{where} {override!r}", "names code to run or environment to copy", "remove it")
    check_value(f"{where} {key}", value)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every entry of a container tree, list items included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
        yield where, str(key), value
        yield from _walk(value, where)


def check_config(cfg: DictConfig) -> None:
    """Refuse a composed configuration (Hydra's node included) that would run code or read the environment."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    hydra = tree.get("hydra") or {}
    shipped = set()
    for name, spec in (hydra.get("callbacks") or {}).items():
        target = spec.get("_target_", "?") if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and set(spec) == {"_target_"} and target in PROJECT_CALLBACKS:
            shipped.add(f"hydra.callbacks.{name}._target_")
            continue
        where, fix = f"hydra.callbacks.{name} (_target_={target})", "remove hydra.callbacks from the config file or override that sets it"
        _refuse(where, "would run when the job starts", fix)
    if (hydra.get("job") or {}).get("env_copy"):
        _refuse("hydra.job.env_copy", "copies environment variables into the outputs", "remove it")
    for where, key, value in _walk(tree):
        if key == "_target_" and where not in shipped and not (where in PLUGIN_KEYS and str(value).startswith(PLUGIN_MODULES)):
            _refuse(f"{where}={value}", "names code to run", "remove it (this project's configs use no _target_)")
        if where.startswith(_LOGGING) and (key == "()" or (key == "class" and not str(value).startswith("logging."))):
            _refuse(f"{where}={value}", "names a logging factory outside Python's logging", "remove it")
        check_value(where, value)
    for key, value in ((hydra.get("sweeper") or {}).get("params") or {}).items():
        check_override(f"{key}={value}", "hydra.sweeper.params")


def compose(argv: list[str], app: Callable) -> tuple[DictConfig, bool] | None:
    """The configuration Hydra will compose from this command line, and whether it is a multirun; None
    for a command that runs no job (--help, --hydra-help, shell completion)."""
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
    cfg = hydra.compose_config(
        args.config_name or options["config_name"], list(args.overrides), run_mode=RunMode.MULTIRUN,
        with_log_configuration=False, validate_sweep_overrides=False,
    )
    multirun = bool(args.multirun) or cfg.hydra.mode == RunMode.MULTIRUN
    if not multirun:  # a sweep override without --multirun: Hydra's own message, before Hydra runs
        parsed = OverridesParser.create().parse_overrides(list(args.overrides))
        ConfigLoaderImpl.validate_sweep_overrides_legal(parsed, run_mode=RunMode.RUN, from_shell=True)
    return cfg, multirun


def composition_error(err: Exception) -> ConfigError:
    """Hydra's composition errors (an unknown option, an override of a missing key, a malformed override) on one line."""
    cause = str(err.__cause__).strip().splitlines()[:1] if err.__cause__ else []  # e.g. the key a schema lacks
    lines = [line.strip() for line in [*str(err).splitlines(), *cause] if line.strip()]
    keep = [line for line in lines if not line.startswith(("full_key:", "reference_type", "object_type", "provider=", "Config search path"))]
    options = [line for line in keep if not line.endswith((".", ":")) and " " not in line]
    text = "; ".join(line.rstrip(".") for line in keep if line not in options)
    if options:
        text += " (" + ", ".join(options) + ")"
    return ConfigError(text + ("" if "use" in text.lower() else "; check the spelling against conf/ and sim/config.py"))


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
    cfg, multirun = composed
    check_config(cfg)
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    at_run_time = any("${hydra:" in str(value) for _, _, value in _walk(OmegaConf.to_container(job, resolve=False)))
    if not multirun and not at_run_time:  # the schema's types, keys and ranges, before Hydra creates the run's folder
        check_bounds(to_sim_config(job))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        folder = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except OmegaConfBaseException:
        return  # resolved by Hydra alone (a ${hydra:...} value): Hydra reports its own failure
    if folder:
        check_output_dir(str(folder), key)


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
