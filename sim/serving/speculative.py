"""Speculative decoding by multi-token prediction (MTP): how many tokens a decode iteration yields.

With ``d`` draft tokens per iteration, a small draft module (DeepSeek's MTP layer) proposes ``d``
tokens one after the other, and the main model verifies them together with the regular decode token
in one forward pass of ``1 + d`` query tokens per request. Draft ``j`` is accepted only if drafts
``1..j-1`` were, each with probability ``acceptance_rate`` (α), so an iteration yields ``1 + A``
tokens, with P(A ≥ j) = α^j for j = 1..d: on average μ = (1 - α^(d+1)) / (1 - α).

The engine stays O(1) per request: when a request starts decoding, the number of iterations it needs
for its remaining ``L`` tokens is drawn once, from the normal approximation of the renewal count
(mean L/μ, variance L·σ²/μ³, σ² the variance of one iteration's yield), clipped to what is possible
(between ⌈L/(1+d)⌉ and L iterations), from a standard normal drawn per request up front by its own
random stream. Between its start and its end the request's context grows by its tokens over its
iterations per iteration (μ on average), so it ends holding exactly its final context.
"""

from __future__ import annotations

import math

from sim.base.config import ConfigError, SpeculativeConfig


def validate_speculative(cfg: SpeculativeConfig) -> None:
    """The method must be known, and MTP needs an acceptance rate (the numbers' ranges are checked on the schema)."""
    if cfg.method not in ("none", "mtp"):
        raise ConfigError(f"engine.speculative.method={cfg.method!r} is unknown; use 'none' or 'mtp'")
    if cfg.method == "mtp" and cfg.acceptance_rate is None:
        raise ConfigError("engine.speculative.acceptance_rate is unset: set it, or build through sim.run.simulation.build (the calibration's)")


class Speculation:
    """Tokens per decode iteration: 1 without speculation, 1 + accepted drafts with MTP."""

    def __init__(self, cfg: SpeculativeConfig):
        validate_speculative(cfg)
        self.enabled = cfg.method == "mtp"
        d = cfg.draft_tokens if self.enabled else 0
        alpha = cfg.acceptance_rate if self.enabled and cfg.acceptance_rate is not None else 0.0
        self.draft_tokens = d
        self.draft_layers = cfg.draft_layers if self.enabled else 0
        self.query_tokens = 1 + d  # tokens per request the main model processes in one iteration
        # P(yield = 1 + j) for j accepted drafts: α^j (1 - α) for j < d, α^d for j = d.
        probs = [alpha**j * (1 - alpha) for j in range(d)] + [alpha**d]
        self.mean_tokens = sum((1 + j) * p for j, p in enumerate(probs))
        self.var_tokens = sum((1 + j) ** 2 * p for j, p in enumerate(probs)) - self.mean_tokens**2

    def iterations(self, tokens: int, z: float) -> int:
        """Decode iterations to generate ``tokens`` tokens, for a request whose standard normal is ``z``."""
        if not self.enabled or tokens <= 0:
            return tokens
        mu = self.mean_tokens
        mean = tokens / mu
        sd = math.sqrt(tokens * self.var_tokens / mu**3)
        fewest = -(-tokens // self.query_tokens)
        return min(tokens, max(fewest, round(mean + z * sd)))
