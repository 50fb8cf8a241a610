"""Marginal distributions of a cohort's parameters, and how a copula draw becomes a value.

Each distribution maps a standard normal deviate ``z`` (one per patient and
parameter, correlated across parameters by the cohort's Gaussian copula) to a
value in the unit the cohort states, through its quantile function:
``x = F^-1(Phi(z))``. Bounds truncate the distribution (the quantile function
of the truncated law), so a draw never piles up at a bound and the copula's
rank correlations survive truncation.

* ``lognormal``: ``median`` and ``sigma`` (standard deviation of the natural log);
* ``normal``: ``mean`` and ``sd``;
* ``uniform``: ``low`` and ``high``;
* ``categorical``: ``values`` and optional ``weights`` (equal by default);
  ``z`` picks a category by its cumulative weight.

Parameters are checked here only for their own consistency; which parameter a
distribution belongs to, its unit and the catalogue's bounds are checked in
:mod:`tmesim.trials.cohort`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import ndtr, ndtri

Bounds = tuple[float | None, float | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Marginal(_Strict):
    """Common fields: the unit values are stated in, and optional bounds ``[low, high]`` in that unit."""

    unit: str | None = None
    bounds: tuple[float | None, float | None] | None = None

    @model_validator(mode="after")
    def _ordered_bounds(self):
        if self.bounds is not None:
            lo, hi = self.bounds
            for v in (lo, hi):
                if v is not None and not math.isfinite(v):
                    raise ValueError(f"bounds must be finite numbers or null, got {v}")
            if lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"lower bound {lo:g} is not below the upper bound {hi:g}")
        return self

    # subclasses: cdf(x) and ppf(p) of the untruncated law (vectorised), median()
    def sample(self, z: np.ndarray, bounds: Bounds) -> np.ndarray:
        """Values (stated unit) for standard normal deviates ``z``, truncated to ``bounds``."""
        lo, hi = bounds
        p_lo = 0.0 if lo is None else float(self.cdf(np.array([lo]))[0])
        p_hi = 1.0 if hi is None else float(self.cdf(np.array([hi]))[0])
        if p_lo == 0.0 and p_hi == 1.0:
            return self.from_normal(z)
        p = p_lo + ndtr(z) * (p_hi - p_lo)
        x = self.ppf(p)
        return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        """``F^-1(Phi(z))`` without truncation (subclasses of normal form avoid the round trip)."""
        return self.ppf(ndtr(z))

    def support(self) -> Bounds:
        """Where the untruncated law has mass (None: unbounded)."""
        return (None, None)

    def mass_between(self, bounds: Bounds) -> float:
        """Probability of the untruncated law inside ``bounds``."""
        lo, hi = bounds
        p_lo = 0.0 if lo is None else float(self.cdf(np.array([lo]))[0])
        p_hi = 1.0 if hi is None else float(self.cdf(np.array([hi]))[0])
        return p_hi - p_lo


class LogNormal(_Marginal):
    """``log(x) ~ Normal(log(median), sigma)``."""

    distribution: Literal["lognormal"]
    median: float = Field(gt=0, allow_inf_nan=False)
    sigma: float = Field(gt=0, allow_inf_nan=False, description="standard deviation of the natural log")

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return ndtr((np.log(np.maximum(x, 0.0)) - math.log(self.median)) / self.sigma)

    def ppf(self, p):
        return np.exp(math.log(self.median) + self.sigma * ndtri(np.asarray(p, dtype=float)))

    def from_normal(self, z):
        return np.exp(math.log(self.median) + self.sigma * np.asarray(z, dtype=float))

    def support(self) -> Bounds:
        return (0.0, None)



class Normal(_Marginal):
    """``x ~ Normal(mean, sd)``."""

    distribution: Literal["normal"]
    mean: float = Field(allow_inf_nan=False)
    sd: float = Field(gt=0, allow_inf_nan=False)

    def cdf(self, x):
        return ndtr((np.asarray(x, dtype=float) - self.mean) / self.sd)

    def ppf(self, p):
        return self.mean + self.sd * ndtri(np.asarray(p, dtype=float))

    def from_normal(self, z):
        return self.mean + self.sd * np.asarray(z, dtype=float)



class Uniform(_Marginal):
    """``x ~ Uniform(low, high)``."""

    distribution: Literal["uniform"]
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self):
        if self.low >= self.high:
            raise ValueError(f"low {self.low:g} is not below high {self.high:g}")
        return self

    def cdf(self, x):
        return np.clip((np.asarray(x, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def ppf(self, p):
        return self.low + np.asarray(p, dtype=float) * (self.high - self.low)

    def support(self) -> Bounds:
        return (self.low, self.high)



class Categorical(_Marginal):
    """One of ``values``, with probabilities ``weights`` (normalised; equal when omitted)."""

    distribution: Literal["categorical"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self):
        for v in self.values:
            if not math.isfinite(v):
                raise ValueError(f"values must be finite, got {v}")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"{len(self.weights)} weights for {len(self.values)} values")
            if any(not math.isfinite(w) or w < 0 for w in self.weights):
                raise ValueError("weights must be finite and >= 0")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be 0")
        if self.bounds is not None:
            raise ValueError("a categorical distribution takes no bounds (its values are its support)")
        return self

    def probabilities(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, dtype=float)
        return w / w.sum()

    def sample(self, z: np.ndarray, bounds: Bounds) -> np.ndarray:
        cumulative = np.cumsum(self.probabilities())
        cumulative[-1] = 1.0
        index = np.searchsorted(cumulative, ndtr(np.asarray(z, dtype=float)), side="right")
        return np.asarray(self.values, dtype=float)[np.minimum(index, len(self.values) - 1)]

    def ppf(self, p):
        return self.sample(ndtri(np.clip(np.asarray(p, dtype=float), 1e-300, 1 - 1e-16)), (None, None))

    def support(self) -> Bounds:
        return (min(self.values), max(self.values))

    def mass_between(self, bounds: Bounds) -> float:
        return 1.0



Distribution = Annotated[LogNormal | Normal | Uniform | Categorical, Field(discriminator="distribution")]
DISTRIBUTIONS = ("lognormal", "normal", "uniform", "categorical")
