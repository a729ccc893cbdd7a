"""The one registry of family x link cases used across the test suite.

Every test that loops over families or links draws from here (STYLE.md section 10):

- ``CASES``: each family with each link it supports, a simulator for a well-posed
  dataset (n=200, intercept + 3 covariates, the mean kept well inside the valid range
  for the link) and the matching statsmodels family.
- ``CANONICAL``: one case per family with its default link (API.md table).
- ``LINKS``: every link in ``jg.links`` with a safe grid of ``eta`` and ``mu``.
- ``np_link`` / ``np_variance`` / ``np_unit_deviance``: independent numpy/scipy
  formulas (from McCullagh & Nelder and R's ``family`` objects), so tests never
  check the library against itself.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import NamedTuple

import numpy as np
from scipy import special, stats

# --------------------------------------------------------------------------------
# Independent numpy formulas
# --------------------------------------------------------------------------------


class NpLink(NamedTuple):
    link: object  # mu -> eta
    inverse: object  # eta -> mu
    inverse_deriv: object  # eta -> d mu / d eta


def _power_link(p: float) -> NpLink:
    return NpLink(
        lambda mu: mu**p,
        lambda eta: eta ** (1.0 / p),
        lambda eta: eta ** (1.0 / p - 1.0) / p,
    )


_NP_LINKS = {
    "Identity": NpLink(lambda mu: mu, lambda eta: eta, lambda eta: np.ones_like(eta)),
    "Log": NpLink(np.log, np.exp, np.exp),
    "Logit": NpLink(
        special.logit, special.expit, lambda e: special.expit(e) * special.expit(-e)
    ),
    "Probit": NpLink(special.ndtri, special.ndtr, stats.norm.pdf),
    "CLogLog": NpLink(
        lambda mu: np.log(-np.log1p(-mu)),
        lambda eta: -np.expm1(-np.exp(eta)),
        lambda eta: np.exp(eta - np.exp(eta)),
    ),
    "LogLog": NpLink(
        lambda mu: -np.log(-np.log(mu)),
        lambda eta: np.exp(-np.exp(-eta)),
        lambda eta: np.exp(-eta - np.exp(-eta)),
    ),
    "Cauchit": NpLink(
        lambda mu: np.tan(np.pi * (mu - 0.5)),
        lambda eta: 0.5 + np.arctan(eta) / np.pi,
        lambda eta: 1.0 / (np.pi * (1.0 + eta**2)),
    ),
    "Inverse": _power_link(-1.0),
    "InverseSquared": _power_link(-2.0),
    "Sqrt": _power_link(0.5),
}


def np_link(name: str, p: float | None = None) -> NpLink:
    """Closed-form numpy link ``name`` (``"Power"`` needs ``p``)."""
    if name == "Power":
        return _power_link(float(p))
    return _NP_LINKS[name]


def np_variance(family: str, mu, params: dict | None = None):
    """Variance function V(mu) of ``family`` (R's ``family()$variance``)."""
    params = params or {}
    mu = np.asarray(mu, dtype=np.float64)
    if family == "Gaussian":
        return np.ones_like(mu)
    if family == "Binomial":
        return mu * (1.0 - mu)
    if family == "Poisson":
        return mu
    if family == "Gamma":
        return mu**2
    if family == "InverseGaussian":
        return mu**3
    if family == "NegativeBinomial":
        return mu + params["alpha"] * mu**2
    if family == "Tweedie":
        return mu ** params["power"]
    raise KeyError(family)


def np_unit_deviance(family: str, y, mu, params: dict | None = None):
    """Unit deviance d(y, mu) of ``family`` (R's ``dev.resids`` with weight 1)."""
    params = params or {}
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    if family == "Gaussian":
        return (y - mu) ** 2
    if family == "Binomial":
        return 2.0 * (
            special.xlogy(y, y / mu) + special.xlogy(1.0 - y, (1.0 - y) / (1.0 - mu))
        )
    if family == "Poisson":
        return 2.0 * (special.xlogy(y, y / mu) - (y - mu))
    if family == "Gamma":
        return 2.0 * (-np.log(y / mu) + (y - mu) / mu)
    if family == "InverseGaussian":
        return (y - mu) ** 2 / (y * mu**2)
    if family == "NegativeBinomial":
        theta = 1.0 / params["alpha"]
        return 2.0 * (
            special.xlogy(y, y / mu) - (y + theta) * np.log((y + theta) / (mu + theta))
        )
    if family == "Tweedie":
        p = params["power"]
        return 2.0 * (
            np.maximum(y, 0.0) ** (2.0 - p) / ((1.0 - p) * (2.0 - p))
            - y * mu ** (1.0 - p) / (1.0 - p)
            + mu ** (2.0 - p) / (2.0 - p)
        )
    raise KeyError(family)


# --------------------------------------------------------------------------------
# Family x link cases
# --------------------------------------------------------------------------------

#: Mean range (lo, hi) that each simulated dataset keeps mu inside, per family.
_MU_RANGE = {
    "Gaussian": (6.0, 14.0),
    "Binomial": (0.2, 0.8),
    "Poisson": (2.5, 10.0),
    "Gamma": (2.0, 8.0),
    "InverseGaussian": (1.5, 4.5),
    "NegativeBinomial": (2.0, 8.0),
    "Tweedie": (0.8, 3.2),
}

#: Relative sizes of the three slopes; |sum| <= 1 keeps eta inside the link range.
_SLOPE_SHARES = np.array([0.5, -0.3, 0.2])


class SimData(NamedTuple):
    X: np.ndarray  # (n, 4): intercept + 3 covariates in [-1, 1]
    y: np.ndarray  # (n,)
    weights: np.ndarray | None  # prior weights (trials for grouped binomial)
    offset: np.ndarray | None
    coef: np.ndarray  # the true coefficients, a safe start for other software
    mu: np.ndarray  # the true means


@dataclasses.dataclass(frozen=True)
class Case:
    """One family with one link, a simulator and the statsmodels equivalent."""

    family: str  # the jg constructor name
    link: str  # the jg.links class name
    params: tuple = ()  # family parameters, as ((name, value), ...)
    trials: bool = False  # binomial only: grouped data with trials as weights
    weighted: bool = False  # non-binomial: random prior weights in [0.5, 2]
    offset: bool = False  # log-link only: an offset log(exposure)
    mu_range: tuple | None = None  # overrides the family's default mean range

    @property
    def id(self) -> str:
        return f"{self.family}-{self.link}"

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def estimates_dispersion(self) -> bool:
        return self.family in ("Gaussian", "Gamma", "InverseGaussian", "Tweedie")

    def jg_family(self, **overrides):
        """The jaxglm family with this link (``overrides`` replace parameters)."""
        import jaxglm as jg

        link = getattr(jg.links, self.link)()
        return getattr(jg, self.family)(**{**self.param_dict, **overrides}, link=link)

    def sm_family(self):
        """The statsmodels family and link, or ``pytest.skip`` if it lacks the link."""
        import pytest
        from statsmodels.genmod import families
        from statsmodels.genmod.families import links

        link_factory = {
            "Identity": lambda: links.Identity(),
            "Log": lambda: links.Log(),
            "Logit": lambda: links.Logit(),
            "Probit": lambda: links.Probit(),
            "CLogLog": lambda: links.CLogLog(),
            "LogLog": getattr(links, "LogLog", None),
            "Cauchit": lambda: links.Cauchy(),
            "Inverse": lambda: links.InversePower(),
            "InverseSquared": lambda: links.InverseSquared(),
            "Sqrt": lambda: links.Sqrt(),
        }[self.link]
        if link_factory is None:
            pytest.skip(f"this statsmodels has no {self.link} link")
        link = link_factory()
        p = self.param_dict
        # check_link=False: statsmodels' lists of allowed links are narrower than R's
        if self.family == "NegativeBinomial":
            return families.NegativeBinomial(
                link=link, alpha=p["alpha"], check_link=False
            )
        if self.family == "Tweedie":
            return families.Tweedie(link=link, var_power=p["power"], check_link=False)
        return getattr(families, self.family)(link=link, check_link=False)

    def simulate(self, seed: int | None = None, n: int = 200) -> SimData:
        """A well-posed dataset for this case; the default seed is fixed per case."""
        if seed is None:
            seed = zlib.crc32(self.id.encode())
        rng = np.random.default_rng(seed)
        lo, hi = self.mu_range or _MU_RANGE[self.family]
        g = np_link(self.link)
        eta_lo, eta_hi = float(g.link(np.array(lo))), float(g.link(np.array(hi)))
        half = 0.5 * (eta_hi - eta_lo)
        coef = np.concatenate([[0.5 * (eta_hi + eta_lo)], half * _SLOPE_SHARES])
        covariates = rng.uniform(-1.0, 1.0, size=(n, 3))
        X = np.column_stack([np.ones(n), covariates])
        offset = np.log(rng.uniform(0.5, 2.0, size=n)) if self.offset else None
        eta = X @ coef + (0.0 if offset is None else offset)
        mu = g.inverse(eta)
        weights = rng.uniform(0.5, 2.0, size=n) if self.weighted else None
        y = self._draw_y(rng, mu, weights)
        if self.family == "Binomial":
            if self.trials:
                trials = rng.integers(3, 25, size=n).astype(np.float64)
                y = rng.binomial(trials.astype(np.int64), mu) / trials
                weights = trials
            else:
                y = rng.binomial(1, mu).astype(np.float64)
        return SimData(X, y, weights, offset, coef, mu)

    def _draw_y(self, rng, mu, weights):
        w = np.ones_like(mu) if weights is None else weights
        p = self.param_dict
        if self.family == "Gaussian":
            return mu + rng.normal(size=mu.shape) / np.sqrt(w)
        if self.family == "Binomial":
            return None  # drawn by the caller (needs the trials)
        if self.family == "Poisson":
            return rng.poisson(mu).astype(np.float64)
        if self.family == "Gamma":
            shape = 4.0 * w
            return rng.gamma(shape, mu / shape)
        if self.family == "InverseGaussian":
            return rng.wald(mu, 20.0 * w)
        if self.family == "NegativeBinomial":
            theta = 1.0 / p["alpha"]
            return rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float64)
        if self.family == "Tweedie":
            # compound Poisson-gamma with dispersion 1/w (Jorgensen 1997)
            power, phi = p["power"], 1.0 / w
            rate = mu ** (2.0 - power) / (phi * (2.0 - power))
            shape = (2.0 - power) / (power - 1.0)
            scale = phi * (power - 1.0) * mu ** (power - 1.0)
            counts = rng.poisson(rate)
            return np.where(
                counts > 0, rng.gamma(np.maximum(counts, 1) * shape, scale), 0.0
            )
        raise KeyError(self.family)


_NB = (("alpha", 0.5),)
_TW = (("power", 1.5),)

CASES: tuple[Case, ...] = (
    Case("Gaussian", "Identity"),
    Case("Gaussian", "Log", weighted=True),
    Case("Gaussian", "Inverse"),
    Case("Binomial", "Logit"),
    Case("Binomial", "Probit", trials=True),
    Case("Binomial", "CLogLog"),
    Case("Binomial", "LogLog", trials=True),
    Case("Binomial", "Cauchit"),
    Case("Binomial", "Log", trials=True, mu_range=(0.1, 0.5)),
    Case("Poisson", "Log", offset=True),
    Case("Poisson", "Identity"),
    Case("Poisson", "Sqrt", weighted=True),
    Case("Gamma", "Inverse"),
    Case("Gamma", "Identity"),
    Case("Gamma", "Log", weighted=True),
    Case("InverseGaussian", "InverseSquared"),
    Case("InverseGaussian", "Inverse", weighted=True),
    Case("InverseGaussian", "Identity"),
    Case("InverseGaussian", "Log"),
    Case("NegativeBinomial", "Log", _NB, offset=True),
    Case("NegativeBinomial", "Sqrt", _NB, weighted=True),
    Case("NegativeBinomial", "Identity", _NB),
    Case("Tweedie", "Log", _TW),
    Case("Tweedie", "Identity", _TW, weighted=True),
)

#: Default link of each family (API.md), one case per family.
DEFAULT_LINK = {
    "Gaussian": "Identity",
    "Binomial": "Logit",
    "Poisson": "Log",
    "Gamma": "Inverse",
    "InverseGaussian": "InverseSquared",
    "NegativeBinomial": "Log",
    "Tweedie": "Log",
}
CANONICAL: tuple[Case, ...] = tuple(
    c for c in CASES if DEFAULT_LINK[c.family] == c.link
)
FAMILIES: tuple[str, ...] = tuple(DEFAULT_LINK)


def case_ids(cases) -> list[str]:
    return [c.id for c in cases]


# --------------------------------------------------------------------------------
# Links on their own
# --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LinkCase:
    """A link with grids of ``eta`` and ``mu`` where it is smooth and invertible."""

    name: str
    p: float | None = None  # Power only
    eta_range: tuple = (-4.0, 4.0)
    mu_range: tuple = (0.02, 0.98)

    @property
    def id(self) -> str:
        return self.name if self.p is None else f"{self.name}({self.p:g})"

    def jg_link(self):
        import jaxglm as jg

        cls = getattr(jg.links, self.name)
        return cls() if self.p is None else cls(self.p)

    def np_link(self) -> NpLink:
        return np_link(self.name, self.p)

    def eta_grid(self, num: int = 41) -> np.ndarray:
        return np.linspace(*self.eta_range, num)

    def mu_grid(self, num: int = 41) -> np.ndarray:
        return np.linspace(*self.mu_range, num)


_POS = {"eta_range": (0.05, 20.0), "mu_range": (0.05, 20.0)}
LINKS: tuple[LinkCase, ...] = (
    LinkCase("Identity", eta_range=(-20.0, 20.0), mu_range=(-20.0, 20.0)),
    LinkCase("Log", eta_range=(-6.0, 6.0), mu_range=(0.01, 50.0)),
    LinkCase("Logit"),
    LinkCase("Probit", eta_range=(-3.5, 3.5)),
    LinkCase("CLogLog", eta_range=(-4.0, 2.0)),
    LinkCase("LogLog", eta_range=(-2.0, 4.0)),
    LinkCase("Cauchit", eta_range=(-20.0, 20.0)),
    LinkCase("Inverse", **_POS),
    LinkCase("InverseSquared", **_POS),
    LinkCase("Sqrt", **_POS),
    LinkCase("Power", p=0.5, **_POS),
    LinkCase("Power", p=2.0, **_POS),
    LinkCase("Power", p=-1.0, **_POS),
    LinkCase("Power", p=1.0 / 3.0, **_POS),
)
