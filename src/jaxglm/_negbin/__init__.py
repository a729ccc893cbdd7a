"""Negative binomial regression with theta estimated (MASS ``glm.nb``)."""

from .fit import fit_negbin as fit_negbin
from .fit import glm_nb as glm_nb

__all__ = ["fit_negbin", "glm_nb"]
