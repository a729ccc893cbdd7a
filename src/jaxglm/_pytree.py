"""A tiny frozen-dataclass pytree base for families, links and results.

Subclassing :class:`Node` turns a class into a frozen dataclass registered as a
pytree.  Fields declared with ``static_field()`` are kept in the tree structure
(user callables, strings); every other field is a leaf, so numeric parameters
such as a negative binomial ``alpha`` pass through ``jax.vmap`` and ``jax.grad``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

__all__ = ["Node", "static_field"]


def static_field(**kwargs: Any) -> Any:
    """A dataclass field stored in the treedef instead of as a leaf."""
    metadata = dict(kwargs.pop("metadata", {}))
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def _short_repr(value: Any) -> str:
    if isinstance(value, jax.Array | np.ndarray) and np.ndim(value) > 0:
        dtype = np.dtype(value.dtype)
        kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dtype.kind, "")
        bits = "" if kind == "bool" else str(dtype.itemsize * 8)
        shape = ",".join(str(s) for s in value.shape)
        return f"{kind}{bits}[{shape}]"
    if isinstance(value, jax.Array | np.ndarray):
        try:
            return repr(value.item())
        except Exception:  # a tracer has no concrete value
            return f"{type(value).__name__}"
    return repr(value)


class Node:
    """Base class: subclasses become frozen dataclasses and pytrees."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
        fields = dataclasses.fields(cls)
        leaf_names = tuple(f.name for f in fields if not f.metadata.get("static"))
        static_names = tuple(f.name for f in fields if f.metadata.get("static"))

        def flatten(node):
            leaves = tuple(getattr(node, name) for name in leaf_names)
            statics = tuple(getattr(node, name) for name in static_names)
            keyed = tuple(
                (jax.tree_util.GetAttrKey(name), leaf)
                for name, leaf in zip(leaf_names, leaves, strict=True)
            )
            return keyed, statics

        def unflatten(statics, leaves):
            node = object.__new__(cls)
            for name, value in zip(leaf_names, leaves, strict=True):
                object.__setattr__(node, name, value)
            for name, value in zip(static_names, statics, strict=True):
                object.__setattr__(node, name, value)
            return node

        jax.tree_util.register_pytree_with_keys(
            cls, flatten, unflatten, flatten_func=None
        )

    def replace(self, **changes: Any):
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = [
            f"{f.name}={_short_repr(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if f.repr
        ]
        return f"{type(self).__name__}({', '.join(parts)})"
