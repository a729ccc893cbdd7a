"""``assert_close``: ``np.testing.assert_allclose`` with per-element tolerances.

numpy's own version formats ``atol``/``rtol`` as scalars, but the reference tests
scale the tolerance per element (``atol = 1e-6 * se``), so this one broadcasts
both and reports the worst offenders with their relative errors.
"""

from __future__ import annotations

import numpy as np


def assert_close(actual, expected, *, rtol=0.0, atol=0.0, what: str = "") -> None:
    """|actual - expected| <= atol + rtol * |expected|, elementwise, NaNs unequal."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}"
    )
    rtol = np.broadcast_to(np.asarray(rtol, dtype=np.float64), expected.shape)
    atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), expected.shape)
    err = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    ok = err <= bound  # False wherever either side is NaN
    if ok.all():
        return
    bad = np.flatnonzero(~ok.ravel())
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (err / np.abs(expected)).ravel()
    lines = [
        f"{what}: {bad.size} of {ok.size} elements differ "
        f"(max |err|={np.nanmax(err):.3g}, max rel err={np.nanmax(rel):.3g})"
    ]
    for i in bad[:8]:
        idx = np.unravel_index(i, expected.shape) if expected.ndim else ()
        lines.append(
            f"  at {tuple(int(j) for j in idx)}: actual {actual.ravel()[i]!r} "
            f"expected {expected.ravel()[i]!r} rel err {rel[i]:.3g} "
            f"(allowed |err| <= {bound.ravel()[i]:.3g})"
        )
    raise AssertionError("\n".join(lines))
