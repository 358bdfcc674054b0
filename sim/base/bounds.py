"""The ranges numbers of a configuration may take, and the error that says one is wrong.

Every numeric field of the schemas (``sim/base/config.py``) declares its range on the field itself
(:func:`bounded`, :func:`positive`), so a new field is checked by declaring it, not by remembering an if.
:func:`check_bounds` walks a whole configuration before any simulation and refuses, naming the key, the
value, the allowed range and the fix: NaN and infinity (except on the fields where ``inf`` means "no limit":
:func:`no_limit_fields`), values out of range, and, for platforms and models, values outside what real
accelerators and models have (``plausible``; a deliberate exception is listed in the node's
``allow_implausible``). Size fields say what a run of that size would cost (:func:`run_estimate`).
"""

from __future__ import annotations

import math
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Callable, Union


class ConfigError(ValueError):
    """A configuration that cannot be simulated, with a message that says how to fix it."""


@dataclass(frozen=True)
class Bounds:
    """The values a numeric field may take: declared on the schema, checked by :func:`check_bounds`
    before any simulation, so a new field is checked by declaring its range, not by remembering an if.

    ``low``/``high``: the range (None: unbounded on that side), each end included unless ``low_open`` /
    ``high_open``. ``inf_is_no_limit``: ``inf`` is accepted and means "no limit" (documented on the field);
    otherwise NaN and ±inf are refused everywhere. ``plausible``: the range real hardware or models have
    (platforms, models); outside it a value is refused unless its node's ``allow_implausible`` names the
    field. ``unit`` and ``hint`` (the fix; a function of the value for sizes) make the message.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    inf_is_no_limit: bool = False
    plausible: tuple[float, float] | None = None
    unit: str = ""
    hint: Union[str, Callable[[float], str]] = ""

    def describe(self) -> str:
        """The allowed range in words, e.g. ``in (0, 1]`` or ``>= 1``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}{unit}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}{unit}" + (" (inf: no limit)" if self.inf_is_no_limit else "")
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}{unit}"
        return "a finite number"

    def allows(self, value: float) -> bool:
        if math.isnan(value) or (math.isinf(value) and not (self.inf_is_no_limit and value > 0)):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or math.isinf(value) or not (value > self.high or (self.high_open and value == self.high))


def bounded(default: Any, low: float | None = None, high: float | None = None, **options: Any) -> Any:
    """A schema field whose values must lie in a range (see :class:`Bounds`), e.g.
    ``pue: float = bounded(1.3, 1.0, 3.0, unit="(facility / IT power)")``."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"bounds": Bounds(low, high, **options)})
    return field(default=default, metadata={"bounds": Bounds(low, high, **options)})


def positive(default: Any, **options: Any) -> Any:
    """A schema field that must be > 0 (a size, a rate, a bandwidth)."""
    return bounded(default, 0, low_open=True, **options)


def refuse_implausible(node: Any, where: str, value: Any, why: str, key: str = "") -> None:
    """Refuse ``value`` at ``where`` (``prefix.key``, or an item of field ``key``) of ``node`` as
    implausible, ``why`` saying what real values are, unless ``node.allow_implausible`` lists the key."""
    key = key or where.rpartition(".")[2]
    prefix = where[: max(where.rfind("." + key), 0)] or "its node"
    if key not in getattr(node, "allow_implausible", ()):
        raise ConfigError(
            f"{where}={value} is implausible: {why}; if it is deliberate, add {key} to "
            f"{prefix}.allow_implausible (e.g. {prefix}.allow_implausible=[{key}])"
        )


def check_bounds(node: Any, path: str = "") -> None:
    """Refuse, naming the key, the value, the allowed range and the fix: any number outside the
    :class:`Bounds` declared on its field (or its plausible range), and any NaN or infinity anywhere in the
    configuration (in nested schemas and in the values of dicts too), unless its field says ``inf``
    means no limit."""
    if not is_dataclass(node):
        return
    allowed = getattr(node, "allow_implausible", None)
    if allowed is not None:
        checked = [f.name for f in fields(node) if f.metadata.get("bounds", Bounds()).plausible] + list(node.cross_checked)
        for key in allowed:
            if key not in checked:
                raise ConfigError(f"{path}allow_implausible names {key!r}, which has no plausibility check; use some of {checked}")
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{path}{f.name}"
        bounds: Bounds = f.metadata.get("bounds", Bounds())
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for name, item in items:
            where = key if name is None else f"{key}.{name}"
            if is_dataclass(item):
                check_bounds(item, where + ".")
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                hint = bounds.hint(item) if callable(bounds.hint) else bounds.hint
                if not bounds.allows(float(item)):
                    fix = "set it within that range" + (f" ({hint})" if hint else "")
                    raise ConfigError(f"{where}={item} is not allowed: it must be {bounds.describe()}; {fix}")
                low, high = bounds.plausible or (-math.inf, math.inf)
                if not low <= item <= high:
                    unit = f" {bounds.unit}" if bounds.unit else ""
                    refuse_implausible(node, where, item, f"real values lie in [{low:g}, {high:g}]{unit}" + (f" ({hint})" if hint else ""), f.name)


def no_limit_fields(schema: type, path: str = "") -> list[str]:
    """The keys (under ``schema``) whose field accepts ``inf`` as "no limit": the documented list."""
    found = []
    for f in fields(schema):
        if f.metadata.get("bounds", Bounds()).inf_is_no_limit:
            found.append(path + f.name)
        nested = f.default_factory() if f.default_factory is not NO_DEFAULT else None
        if is_dataclass(nested):
            found += no_limit_fields(type(nested), f"{path}{f.name}.")
    return found


def run_estimate(requests: float, workers: float = 0) -> str:
    """What simulating ``requests`` requests on ``workers`` workers costs, in words: wall time at about
    50,000 requests per wall-second (35,000 without the compiled engine) and memory at about 550 bytes
    per request and 2 kB per worker (the README's Speed section)."""
    seconds = requests / 50_000 + workers * 3e-5
    memory_gb = 0.15 + (requests * 550 + workers * 2_000) / 1e9
    when = f"{seconds / 3600:.1f} h" if seconds > 5400 else f"{seconds / 60:.0f} min" if seconds > 90 else f"{seconds:.0f} s"
    return f"about {when} and {memory_gb:,.1f} GB of memory"


def sizes(what: str) -> Callable[[float], str]:
    """The hint of a size field: what a run of that size would cost."""
    return lambda n: f"{n:,.0f} {what} would take {run_estimate(n if what == 'requests' else 0, n if what == 'workers' else 0)}" if n > 0 else ""
