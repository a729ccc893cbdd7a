"""Turning user inputs into arrays of one float dtype, and checking them.

Shape, dtype and type problems are known at trace time and always raise.
Value problems (non-finite numbers, negative weights, a response outside the
family's support) are checked in numpy only when the inputs are concrete;
under ``jit``/``vmap`` the same conditions become ``Status.INVALID_INPUT``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _families
from ._buckets import MAX_PADDED_ELEMENTS, pad_rows, paddable, row_bucket
from ._family import Family
from ._multinomial.family import Multinomial
from ._quasi import Quasi, QuasiBinomial, QuasiPoisson

__all__ = [
    "as_family",
    "cast_family",
    "check_values",
    "is_concrete",
    "prepare",
    "valid_input_mask",
]

_FAMILY_NAMES = {
    "gaussian": _families.Gaussian,
    "normal": _families.Gaussian,
    "binomial": _families.Binomial,
    "poisson": _families.Poisson,
    "gamma": _families.Gamma,
    "inversegaussian": _families.InverseGaussian,
    "negativebinomial": _families.NegativeBinomial,
    "tweedie": _families.Tweedie,
    "multinomial": Multinomial,
    "quasipoisson": QuasiPoisson,
    "quasibinomial": QuasiBinomial,
    "quasi": Quasi,
}


def as_family(family) -> Family:
    """Accept a family instance, a family class, or a name such as ``"poisson"``."""
    if isinstance(family, Family):
        return family
    if isinstance(family, type) and issubclass(family, Family):
        return family()
    if isinstance(family, str):
        key = "".join(ch for ch in family.lower() if ch.isalpha())
        if key in _FAMILY_NAMES:
            return _FAMILY_NAMES[key]()
        raise ValueError(
            f"family={family!r} is not a known family; use one of "
            "jg.Gaussian(), jg.Binomial(), jg.Poisson(), jg.Gamma(), "
            "jg.InverseGaussian(), jg.NegativeBinomial(alpha), jg.Tweedie(power), "
            "jg.Multinomial(), jg.QuasiPoisson(), jg.QuasiBinomial(), jg.Quasi()"
        )
    raise TypeError(
        f"family must be a jaxglm family such as jg.Poisson(), "
        f"got {type(family).__name__}"
    )


def is_concrete(*values) -> bool:
    """True when every value's numbers can be inspected in this process.

    Tracers cannot, and neither can an array spread over several processes
    (``jax.distributed``), which this process sees only part of: both are
    checked inside the fit instead (``Status.INVALID_INPUT``).
    """
    leaves = jax.tree_util.tree_leaves(values)
    return not any(
        isinstance(leaf, jax.core.Tracer)
        or (isinstance(leaf, jax.Array) and not leaf.is_fully_addressable)
        for leaf in leaves
    )


def _to_array(value, name: str):
    """A numeric array from numpy, JAX, pandas, lists, bools or numeric strings."""
    if isinstance(value, jax.Array):
        array = value
    else:
        if hasattr(value, "to_numpy"):  # pandas Series/DataFrame, polars
            try:  # nullable pandas columns: pd.NA becomes NaN, caught below
                value = value.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                value = value.to_numpy()
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise TypeError(
                f"{name} could not be read as a numeric array: {err}"
            ) from err
        if array.dtype.kind in "OUS":
            try:
                array = array.astype(np.float64)
            except (ValueError, TypeError) as err:
                raise TypeError(
                    f"{name} must be numeric, got values of dtype {array.dtype} "
                    f"that are not numbers ({err}); encode categories as dummy "
                    "columns first (or use jg.glm with a formula)"
                ) from None
    kind = np.dtype(array.dtype).kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {array.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


def _float_dtype(arrays) -> np.dtype:
    floats = [np.dtype(a.dtype) for a in arrays if np.dtype(a.dtype).kind == "f"]
    dtype = np.result_type(*floats) if floats else jnp.zeros(()).dtype
    return jax.dtypes.canonicalize_dtype(dtype)


def _first_bad(mask: np.ndarray) -> str:
    index = np.argwhere(mask)[0]
    return ", ".join(str(int(i)) for i in index)


def _check_finite(name: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = "row, column" if array.ndim == 2 else "index"
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at "
            f"{where} {_first_bad(bad)}); remove or impute them before fitting"
        )


def check_loop_options(tol, max_iter) -> None:
    """Raise for a ``max_iter`` that is not an int >= 1 or a non-positive ``tol``."""
    if not isinstance(max_iter, int | np.integer) or isinstance(max_iter, bool):
        raise TypeError(f"max_iter must be an int, got {type(max_iter).__name__}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if not (isinstance(tol, float | int | np.floating) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")


@jax.jit
def _valid_y_compiled(family: Family, y):
    return family.valid_y(y)


def _valid_y(family: Family, y: np.ndarray) -> np.ndarray:
    """``family.valid_y`` of a host array, compiled per row bucket (eager jnp
    would compile its operations again for every new number of rows)."""
    n = y.shape[0]
    padded = pad_rows(y, row_bucket(n))
    return np.asarray(_valid_y_compiled(family, padded))[:n]


def check_values(
    family: Family, X, y, weights, offset, l2, y_name="y", require_weight=True
) -> None:
    """Raise ValueError for non-finite values, bad weights or y off the support.

    ``require_weight=False`` accepts all-zero weights (one block of a stream).
    """
    X, y = np.asarray(X), np.asarray(y)
    _check_finite("X", X)
    _check_finite(y_name, y)
    if weights is not None:
        weights = np.asarray(weights)
        _check_finite("weights", weights)
        if (weights < 0).any():
            raise ValueError(
                f"weights must be non-negative, found {weights[weights < 0][0]} at "
                f"index {_first_bad(weights < 0)}"
            )
        if require_weight and not (weights > 0).any(axis=-1).all():
            raise ValueError("weights are all zero; at least one row must carry weight")
    if offset is not None:
        _check_finite("offset", np.asarray(offset))
    bad_y = ~_valid_y(family, y)
    if bad_y.any():
        hint = ""
        if isinstance(family, _families.Binomial) and (y > 1).any():
            hint = (
                "; Binomial y is the proportion of successes with weights = "
                "number of trials (R's convention)"
            )
        where = "row, column" if y.ndim == 2 else "index"
        raise ValueError(
            f"{y_name} must be {family.support_text} for the "
            f"{type(family).__name__} family, found {y[bad_y][0]} at {where} "
            f"{_first_bad(bad_y)}{hint}"
        )
    l2_value = np.asarray(l2)
    if not np.isfinite(l2_value).all() or (l2_value < 0).any():
        raise ValueError(f"l2 must be a finite non-negative penalty, got {l2}")


def prepare(X, y, family: Family, weights, offset, l2, tol, max_iter, *, pad=False):
    """Validate and convert the inputs of ``fit`` to JAX arrays of one float dtype.

    ``pad``: pad concrete host data to its row bucket (``_buckets.py``) with
    zero-weight rows, so that fits of nearby sizes share one compiled program.

    Returns:
        (X, y, weights, offset, l2): arrays; weights default to ones and the
        offset to zeros.  With ``pad``, also the number of rows before padding.
    """
    check_loop_options(tol, max_iter)

    X = _to_array(X, "X")
    y = _to_array(y, "y")
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D design matrix (n, p), got shape {X.shape}; "
            "for a single covariate use X[:, None] (and jg.add_intercept for "
            "an intercept)"
        )
    n, p = X.shape
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D with one value per row of X, got shape {y.shape}; "
            "for many responses use jax.vmap or jg.fit_many"
        )
    if y.shape[0] != n:
        raise ValueError(
            f"y has {y.shape[0]} values but X has {n} rows; pass one response "
            "per observation"
        )
    if n == 0:
        raise ValueError("X has no rows; a fit needs at least one observation")
    if p == 0:
        raise ValueError("X has no columns; include at least an intercept column")

    arrays = {"X": X, "y": y}
    for name, value in (("weights", weights), ("offset", offset)):
        if value is None:
            continue
        array = _to_array(value, name)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.shape != (n,):
            raise ValueError(
                f"{name} has shape {array.shape} but y has shape ({n},); pass one "
                f"{'weight' if name == 'weights' else 'offset'} per observation"
            )
        arrays[name] = array
    l2_array = _to_array(l2, "l2")
    if l2_array.ndim != 0:
        raise ValueError(f"l2 must be a scalar penalty, got shape {l2_array.shape}")

    if is_concrete(*arrays.values(), l2_array, family):
        check_values(
            family, X, y, arrays.get("weights"), arrays.get("offset"), l2_array
        )

    # The data decide the working dtype; l2 (a Python float by default) follows.
    dtype = _float_dtype(list(arrays.values()))
    l2_out = jnp.asarray(l2_array, dtype=dtype)
    if pad and _pad_worthwhile(arrays, n, p):
        size = row_bucket(n)
        host = {name: np.asarray(a, dtype=dtype) for name, a in arrays.items()}
        weights = host.get("weights", np.ones(n, dtype))
        offset = host.get("offset", np.zeros(n, dtype))
        padded = jax.device_put((
            pad_rows(host["X"], size), pad_rows(host["y"], size),
            pad_rows(weights, size, 0.0), pad_rows(offset, size),
        ))  # fmt: skip
        return (*padded, l2_out, n)
    out = {name: jnp.asarray(a, dtype=dtype) for name, a in arrays.items()}
    weights = out.get("weights", jnp.ones(n, dtype))
    offset = out.get("offset", jnp.zeros(n, dtype))
    prepared = out["X"], out["y"], weights, offset, l2_out
    return (*prepared, n) if pad else prepared


def _pad_worthwhile(arrays, n: int, p: int) -> bool:
    """Concrete host data of a size where a recompile costs more than a copy."""
    values = list(arrays.values())
    return (
        is_concrete(*values)
        and paddable(*values)
        and row_bucket(n) * p <= MAX_PADDED_ELEMENTS
    )


def cast_family(family: Family, dtype) -> Family:
    """Family parameters as arrays of the working dtype.

    A Python float leaf is weakly typed and a NumPy scalar is not, so without
    this the same fit would compile twice; float32 fits also stay float32.
    """
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, dtype), family)


def valid_input_mask(family: Family, X, y, weights, offset, l2) -> jax.Array:
    """Scalar bool: the value checks of :func:`prepare`, traceable."""
    return (
        jnp.all(family.valid_params())
        & jnp.all(jnp.isfinite(X))
        & jnp.all(family.valid_y(y))
        & jnp.all(jnp.isfinite(weights) & (weights >= 0))
        & jnp.any(weights > 0)
        & jnp.all(jnp.isfinite(offset))
        & jnp.isfinite(l2)
        & (l2 >= 0)
    )
