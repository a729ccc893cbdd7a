"""jaxglm: generalized linear models in JAX, with R's answers.

Families and links are pytrees, the IRLS fit is one compiled ``while_loop``,
fits ``vmap`` into batches and differentiate implicitly at the optimum.
"""

from . import datasets as datasets
from . import links as links
from . import plot as plot
from ._anova import anova as anova
from ._chunks import chunks_from_arrays as chunks_from_arrays
from ._chunks import chunks_from_parquet as chunks_from_parquet
from ._diagnostics import Influence as Influence
from ._diagnostics import influence as influence
from ._diagnostics import residuals as residuals
from ._families import Binomial as Binomial
from ._families import Gamma as Gamma
from ._families import Gaussian as Gaussian
from ._families import InverseGaussian as InverseGaussian
from ._families import NegativeBinomial as NegativeBinomial
from ._families import Poisson as Poisson
from ._families import Tweedie as Tweedie
from ._family import Family as Family
from ._fit import add_intercept as add_intercept
from ._fit import fit as fit
from ._formula import glm as glm
from ._loss import loss as loss
from ._many import fit_many as fit_many
from ._multinomial.family import Multinomial as Multinomial
from ._negbin import fit_negbin as fit_negbin
from ._negbin import glm_nb as glm_nb
from ._penalized.cv import CVResult as CVResult
from ._penalized.cv import cv_path as cv_path
from ._penalized.path import PathResult as PathResult
from ._penalized.path import fit_path as fit_path
from ._predict import predict as predict
from ._profile import confint_profile as confint_profile
from ._quasi import Quasi as Quasi
from ._quasi import QuasiBinomial as QuasiBinomial
from ._quasi import QuasiPoisson as QuasiPoisson
from ._result import GLMResult as GLMResult
from ._sandwich import vcov as vcov
from ._sandwich import with_cov as with_cov
from ._status import ConvergenceWarning as ConvergenceWarning
from ._status import Status as Status
from ._status import check as check
from ._stream import fit_stream as fit_stream
from ._stream_result import StreamResult as StreamResult
from ._summary import summary as summary

__version__ = "0.1.0"

__all__ = [
    "links",
    "datasets",
    "Family",
    "Gaussian",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "NegativeBinomial",
    "Tweedie",
    "QuasiPoisson",
    "QuasiBinomial",
    "Quasi",
    "anova",
    "Multinomial",
    "fit",
    "loss",
    "fit_many",
    "fit_stream",
    "chunks_from_arrays",
    "chunks_from_parquet",
    "StreamResult",
    "glm",
    "glm_nb",
    "fit_negbin",
    "fit_path",
    "cv_path",
    "PathResult",
    "CVResult",
    "GLMRegressor",
    "GLMClassifier",
    "predict",
    "confint_profile",
    "summary",
    "residuals",
    "influence",
    "vcov",
    "with_cov",
    "Influence",
    "plot",
    "add_intercept",
    "GLMResult",
    "Status",
    "ConvergenceWarning",
    "check",
]


def __getattr__(name: str):
    # scikit-learn is an optional extra and slow to import: load it on first use.
    if name in ("GLMRegressor", "GLMClassifier"):
        from . import _sklearn

        return getattr(_sklearn, name)
    raise AttributeError(f"module 'jaxglm' has no attribute {name!r}")
