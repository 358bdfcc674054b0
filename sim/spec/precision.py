"""Numeric precision: bytes per element of each data type and the tensor-core rate it runs at.

A :class:`Precision` names the data type of the weights, of the activations entering the GEMMs and
of the KV cache. A GEMM runs at the rate of the wider of its two operands (W4A8 runs at FP8 rate).
FP4 here is a block-scaled format (NVFP4 / MXFP4): 4-bit elements plus one 8-bit scale per 16
elements, so 4.5 bits per element on average.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.config import ConfigError, PrecisionConfig

#: Bytes per element, block scales included.
BYTES_PER_ELEMENT: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "fp4": 4.5 / 8}

#: Order from narrowest to widest; a GEMM computes at the widest of its operands.
_WIDTH_ORDER = ("fp4", "fp8", "bf16")


@dataclass(frozen=True)
class Precision:
    """Data types of one deployment: weights, GEMM activations and KV cache."""

    name: str
    weight_dtype: str
    activation_dtype: str
    kv_dtype: str

    @classmethod
    def from_config(cls, cfg: PrecisionConfig) -> "Precision":
        for role in ("weight_dtype", "activation_dtype", "kv_dtype"):
            value = getattr(cfg, role)
            if value not in BYTES_PER_ELEMENT:
                raise ConfigError(
                    f"precision.{role}={value!r} is not a known data type; "
                    f"use one of {sorted(BYTES_PER_ELEMENT)}"
                )
        return cls(cfg.name, cfg.weight_dtype, cfg.activation_dtype, cfg.kv_dtype)

    @property
    def weight_bytes(self) -> float:
        return BYTES_PER_ELEMENT[self.weight_dtype]

    @property
    def kv_bytes(self) -> float:
        return BYTES_PER_ELEMENT[self.kv_dtype]

    @property
    def compute_dtype(self) -> str:
        """The tensor-core rate the GEMMs run at: the wider of weights and activations."""
        return max(self.weight_dtype, self.activation_dtype, key=_WIDTH_ORDER.index)
