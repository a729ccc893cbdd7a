"""Row buckets: fits of nearby sizes share one compiled program.

XLA compiles a program per array shape, so a fit of 1013 rows would otherwise
compile again (about a second) after one of 1000.  An eager ``jg.fit`` pads
its rows up to the next bucket -- at most 8 buckets per doubling, so at most
12.5% more rows -- with zero-weight copies of the first row, which every
statistic already leaves out (``nobs``, ``df``, the deviance, the Gram); R's
BIC, which counts zero-weight rows, is given the real row count.  The per-row
fields of the result are cut back to the real rows on the host, where slicing
compiles nothing.

Padding copies the data once, so only designs up to ``MAX_PADDED_ELEMENTS``
are padded: above that a fit takes longer than its compile, and the copy
would cost memory a large fit needs.
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = [
    "MAX_PADDED_ELEMENTS", "row_bucket", "bucket_at_most", "pad_rows", "paddable",
    "unpad",
]  # fmt: skip

# 8M elements: a 64 MiB float64 design.
MAX_PADDED_ELEMENTS = 1 << 23
# Up to this many rows every size is its own bucket (padding would be most of
# a tiny fit, and tiny fits compile quickly).
_EXACT_UP_TO = 16


def row_bucket(n: int) -> int:
    """The padded row count for ``n`` rows: ``n`` rounded up to a multiple of
    ``2**(bits(n) - 4)``, i.e. 8 buckets between consecutive powers of two."""
    if n <= _EXACT_UP_TO:
        return n
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def bucket_at_most(n: int) -> int:
    """The largest bucket size (a value of :func:`row_bucket`) not above ``n``."""
    if n <= _EXACT_UP_TO:
        return n
    step = 1 << (n.bit_length() - 4)
    return n // step * step


def paddable(*arrays) -> bool:
    """Whether inputs can be padded on the host cheaply: NumPy arrays or JAX
    arrays held whole on one CPU device (not sharded, not on an accelerator,
    where the round trip would cost more than it saves)."""
    for array in arrays:
        if isinstance(array, jax.Array):
            devices = array.devices()
            if len(devices) != 1 or next(iter(devices)).platform != "cpu":
                return False
    return True


def pad_rows(array: np.ndarray, size: int, fill=None) -> np.ndarray:
    """``array`` with rows appended up to ``size``: copies of its first row,
    or ``fill`` where given."""
    extra = size - array.shape[0]
    if extra <= 0:
        return array
    if fill is None:
        tail = np.repeat(array[:1], extra, axis=0)
    else:
        tail = np.full((extra, *array.shape[1:]), fill, array.dtype)
    return np.concatenate([array, tail])


def unpad(res, n: int):
    """A result with its per-row fields (``mu``, ``eta``, ``y``, ``weights``)
    cut back to the first ``n`` rows, on the host (no compile per ``n``)."""
    if res.mu.shape[0] == n:
        return res
    fields = ("mu", "eta", "y", "weights")
    host = jax.device_get(tuple(getattr(res, f) for f in fields))
    cut = jax.device_put(tuple(np.asarray(a)[:n] for a in host))
    return res.replace(**dict(zip(fields, cut, strict=True)))
