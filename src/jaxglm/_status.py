"""What happened to a fit: status codes, the convergence warning and ``check``."""

from __future__ import annotations

import enum
import warnings

import numpy as np

__all__ = ["Status", "ConvergenceWarning", "check", "warn_if_failed"]


class Status(enum.IntEnum):
    """Outcome of one fit, stored as an int32 in ``GLMResult.status``."""

    SUCCESS = 0
    MAX_ITER = 1
    NONFINITE = 2
    SINGULAR = 3
    SEPARATION = 4
    INVALID_INPUT = 5


_MESSAGES = {
    Status.SUCCESS: "converged",
    Status.MAX_ITER: "did not converge within max_iter iterations; raise max_iter "
    "or check the model",
    Status.NONFINITE: "the deviance or fitted values became non-finite and step "
    "halving could not recover a valid fit",
    Status.SINGULAR: "the weighted least-squares system was singular (the working "
    "weights made X rank deficient)",
    Status.SEPARATION: "fitted means reached the edge of the support (0 or 1 for "
    "probabilities, 0 for counts): the data are (quasi-)separated and some "
    "coefficients diverge; the MLE does not exist",
    Status.INVALID_INPUT: "the inputs were invalid (non-finite values, negative "
    "weights or a response outside the family's support)",
}


class ConvergenceWarning(UserWarning):
    """An eager fit ended without meeting its convergence tolerance."""


def describe(status: int) -> str:
    """A readable sentence for a status code."""
    return _MESSAGES[Status(int(status))]


def _failures(res) -> list[tuple[tuple[int, ...], Status]]:
    codes = np.asarray(res.status)
    if codes.ndim == 0:
        return [((), Status(int(codes)))] if codes != Status.SUCCESS else []
    return [
        (tuple(int(i) for i in index), Status(int(codes[index])))
        for index in zip(*np.nonzero(codes != Status.SUCCESS), strict=True)
    ]


def _report(failures) -> str:
    if len(failures) == 1 and failures[0][0] == ():
        status = failures[0][1]
        return f"fit failed with status {status.name}: {describe(status)}"
    lines = [f"{len(failures)} fit(s) in the batch failed:"]
    for index, status in failures[:20]:
        lines.append(f"  index {index if len(index) > 1 else index[0]}: {status.name}")
    if len(failures) > 20:
        lines.append(f"  ... and {len(failures) - 20} more")
    codes = sorted({status for _, status in failures})
    lines += [f"{status.name}: {describe(status)}" for status in codes]
    return "\n".join(lines)


def check(res) -> None:
    """Raise ``RuntimeError`` if any fit in ``res`` did not succeed.

    The message names each failing batch index (for vmapped results) and
    explains its status.
    """
    failures = _failures(res)
    if failures:
        raise RuntimeError(_report(failures))


def warn_if_failed(res, stacklevel: int = 3) -> None:
    """Issue a ``ConvergenceWarning`` after an eager fit that did not succeed."""
    failures = _failures(res)
    if failures:
        warnings.warn(_report(failures), ConvergenceWarning, stacklevel=stacklevel)
