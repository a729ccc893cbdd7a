"""Plots of GLM fits: R's diagnostic panels, coefficients, and batches of fits.

``jg.plot.diagnostics`` draws the four panels of R's ``plot(fit)``;
``jg.plot.coefficients`` the estimates with Wald intervals; ``jg.plot.volcano``
and ``jg.plot.pvalue_histogram`` summarise one coefficient across a batch of
fits (``jg.fit_many`` or ``jax.vmap``).  matplotlib is an optional extra,
imported only when a plot is drawn: ``pip install "jaxglm-stats[plot]"``.
Every function returns the matplotlib ``Figure`` and draws on the axes it is
given, if any.
"""

from ._plot_batch import pvalue_histogram as pvalue_histogram
from ._plot_batch import volcano as volcano
from ._plot_fit import coefficients as coefficients
from ._plot_fit import diagnostics as diagnostics

__all__ = ["coefficients", "diagnostics", "pvalue_histogram", "volcano"]
