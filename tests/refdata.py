"""Loading the frozen R references in ``tests/reference/*.json``.

Each file is one ``glm()`` fit by R (see ``tests/reference/README.md``). Tests read
them from here, never from outside the repository.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

#: keys a JSON needs to be a standard fit reference; other JSONs are skipped.
STANDARD_KEYS = frozenset(
    {"name", "family", "link", "family_params", "X", "y", "weights", "offset", "r"}
)


@functools.cache
def load(name: str) -> dict:
    """The reference ``name`` (file stem, with or without ``.json``) as a dict."""
    stem = name[:-5] if name.endswith(".json") else name
    with open(REFERENCE_DIR / f"{stem}.json") as handle:
        return json.load(handle)


def names(predicate=None) -> list[str]:
    """Stems of the standard references, sorted, optionally filtered."""
    out = []
    for path in sorted(REFERENCE_DIR.glob("*.json")):
        try:
            data = load(path.stem)
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or not STANDARD_KEYS <= data.keys():
            continue
        if predicate is None or predicate(data):
            out.append(path.stem)
    return out


def arrays(ref: dict):
    """``(X, y, weights, offset)`` as float64 numpy arrays from a reference.

    ``weights`` is None when the reference has no prior weights and ``offset`` is
    None when it has no offset, so the library's defaults are exercised too.
    """
    X = np.asarray(ref["X"], dtype=np.float64)
    y = np.asarray(ref["y"], dtype=np.float64)
    weights = (
        np.asarray(ref["weights"], dtype=np.float64)
        if ref.get("has_weights", True)
        else None
    )
    offset = (
        np.asarray(ref["offset"], dtype=np.float64)
        if ref.get("has_offset", True)
        else None
    )
    return X, y, weights, offset
