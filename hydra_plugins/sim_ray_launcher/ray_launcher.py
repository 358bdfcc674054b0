"""A Hydra launcher that runs a sweep's jobs as Ray tasks on a running cluster: ``hydra/launcher=ray``.

Why not the published ``hydra-ray-launcher``: installed beside this project it pins ``cloudpickle<3``,
below what joblib (the local launcher) needs, and attaching to a running head fails ("When connecting
to an existing cluster, object_store_memory must not be provided"). This launcher is the smallest one
that does the job with Ray's public API: connect (``ray.init(address=...)``), submit each job as a
task (``ray.remote``), wait for them all (``ray.get``). Each job runs Hydra's own ``run_job`` on a
worker, as the joblib launcher does in its processes, so it writes the same job folder.

Configured the Hydra way:

- ``hydra.launcher.address``: the head's ``HOST:PORT`` (what ``ray start --head`` prints; ``ray://HOST:PORT``
  for Ray Client), ``auto`` (the cluster this machine belongs to) or ``local`` (start Ray here);
- ``hydra.launcher.num_cpus``: CPUs reserved per job (1: one job per core);
- ``hydra.launcher.connect_timeout_s``: how long an address may take to answer before the sweep is
  refused with a message (a head that does not answer never hangs a sweep).

The nodes need the project installed at the same path (as on a cluster with a shared file system),
and ``hydra.sweep.dir`` on storage every node sees: the jobs write their folders there.
"""


import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.sim_ray_launcher.ray_launcher.RayLauncher"
    address: str = "auto"
    num_cpus: float = 1.0
    connect_timeout_s: float = 5.0


ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf, provider="token-factory")


def refuse(message: str) -> None:
    """Stop the sweep before any job with one line saying what is wrong and what to do."""
    raise SystemExit(f"error: {message}")


def check_address(address: str, timeout_s: float) -> None:
    """Refuse an address where nothing answers within ``timeout_s`` (Ray itself would retry for a minute)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        refuse(f"hydra.launcher.address={address} is not HOST:PORT; give the address `ray start --head` printed, "
               "auto (this machine's cluster) or local (start Ray here)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        refuse(f"hydra.launcher.address={address}: no Ray head answers there within {timeout_s:g} s ({err.strerror or err}); "
               "start one on the head node with `ray start --head --port PORT`, or fix the address")


def connect(address: str, timeout_s: float) -> Any:
    try:
        import ray
    except ImportError:
        refuse("hydra/launcher=ray needs Ray: pip install -e '.[ray]'")
    check_address(address, timeout_s)
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        refuse(f"hydra.launcher.address={address}: Ray could not connect ({str(err).splitlines()[0]}); start a head "
               "with `ray start --head`, or use hydra.launcher.address=local")
    return ray


def execute_job(hydra_context: HydraContext, sweep_config: DictConfig, task_function: TaskFunction,
                singleton_state: dict) -> JobReturn:
    """One job on a Ray worker: Hydra's own job runner, as the other launchers use."""
    from hydra.core.hydra_config import HydraConfig

    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


class RayLauncher(Launcher):
    def __init__(self, address: str = "auto", num_cpus: float = 1.0, connect_timeout_s: float = 5.0) -> None:
        self.address, self.num_cpus, self.connect_timeout_s = address, num_cpus, connect_timeout_s
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        ray = connect(str(self.address), float(self.connect_timeout_s))
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()  # the workers' own folders differ
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Ray launcher: {len(job_overrides)} jobs on {self.address}, sweep output dir: {sweep_dir}")
        remote = ray.remote(num_cpus=self.num_cpus)(execute_job)
        pending = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.sweep.dir = str(sweep_dir)
                sweep_config.hydra.job.id = f"ray_{idx}"
                sweep_config.hydra.job.num = idx
            pending.append(remote.remote(self.hydra_context, sweep_config, self.task_function, Singleton.get_state()))
        return ray.get(pending)
