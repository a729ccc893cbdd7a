"""Blocks of rows for streaming fits: reading and checking them, and two sources.

A stream is a callable that returns a fresh iterator of blocks, each a tuple
``(X, y)``, ``(X, y, weights)`` or ``(X, y, weights, offset)`` or a dict with
those keys.  :func:`chunks_from_arrays` slices arrays that may live on disk
(``np.load(path, mmap_mode="r")``); :func:`chunks_from_parquet` reads the row
groups of Parquet files with pyarrow.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from ._family import Family
from ._validate import _to_array, check_values

__all__ = [
    "Block",
    "ArrayChunks",
    "ParquetChunks",
    "as_source",
    "chunks_from_arrays",
    "chunks_from_parquet",
    "pieces",
    "read_block",
]

FIELDS = ("X", "y", "weights", "offset")
# Default block: about 2**22 design entries (32 MB in float64), in whole
# 2048-row blocks of the blocked normal equations (_linalg._BLOCK_ROWS).
_BLOCK_ENTRIES = 2**22
_ROW_MULTIPLE = 2048


class Block(NamedTuple):
    """Rows of a stream: X (m, p), y (m,), weights and offset (m,) or None."""

    X: Any
    y: Any
    weights: Any = None
    offset: Any = None


@contextlib.contextmanager
def naming_chunk(index: int):
    """Prefix ValueError/TypeError messages with the chunk they come from."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise type(err)(f"chunk {index}: {err}") from None


def as_source(chunks) -> Callable[[], Iterable[Any]]:
    """A callable returning a fresh iterator of blocks, from what the user passed."""
    if callable(chunks):
        return chunks  # type: ignore[return-value]
    if isinstance(chunks, Iterator):
        raise TypeError(
            "chunks is an iterator, which a fit can read only once, but each IRLS "
            "iteration reads the data again; pass a function that returns a fresh "
            "iterator, e.g. lambda: my_generator(path), or jg.chunks_from_arrays"
        )
    if isinstance(chunks, Iterable):
        return lambda: iter(chunks)
    raise TypeError(
        "chunks must be a function returning an iterator of (X, y[, weights"
        f"[, offset]]) blocks, got {type(chunks).__name__}"
    )


def _host_array(value, name: str, dtype) -> np.ndarray:
    """A numpy array in a float dtype JAX keeps: float32 as is, else ``dtype``."""
    array = _to_array(value, name)
    if isinstance(array, jax.Array):
        array = np.asarray(array)
    if array.dtype == np.float32 or array.dtype == dtype:
        return array
    return array.astype(dtype)


def read_block(item, index: int, dtype) -> Block:
    """One user block as numpy arrays with checked shapes (values unchecked).

    float32 data stay float32 (the compiled block function casts to ``dtype``
    on the device, so a float32 file costs half the transfer); anything else is
    converted to ``dtype``.
    """
    with naming_chunk(index):
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - set(FIELDS))
            if unknown or "X" not in item or "y" not in item:
                raise ValueError(
                    f"a dict block needs keys 'X' and 'y' (and optionally "
                    f"'weights', 'offset'), got keys {sorted(item)}"
                )
            values = [item.get(name) for name in FIELDS]
        elif isinstance(item, tuple | list) and 2 <= len(item) <= 4:
            values = [*item, *([None] * (4 - len(item)))]
        else:
            raise TypeError(
                "expected a tuple (X, y), (X, y, weights) or (X, y, weights, "
                f"offset) or a dict with those keys, got {type(item).__name__}"
            )
        arrays = [
            None if value is None else _host_array(value, name, dtype)
            for name, value in zip(FIELDS, values, strict=True)
        ]
        X = arrays[0]
        assert X is not None
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (rows, p), got shape {X.shape}")
        m = X.shape[0]
        for position in (1, 2, 3):
            array = arrays[position]
            if array is None:
                continue
            if array.ndim == 2 and array.shape[1] == 1:
                array = arrays[position] = array[:, 0]
            if array.shape != (m,):
                raise ValueError(
                    f"{FIELDS[position]} has shape {array.shape} but X has {m} "
                    "rows; pass one value per row"
                )
    return Block(*arrays)


def check_block(block: Block, index: int, family: Family) -> None:
    """``jg.fit``'s value checks on one block, naming the chunk on failure."""
    with naming_chunk(index):
        check_values(
            family, block.X, block.y, block.weights, block.offset, 0.0,
            require_weight=False,
        )  # fmt: skip


def pieces(block: Block, rows: int) -> Iterator[tuple[Block, int]]:
    """``block`` cut into ``rows``-row pieces, the last padded; (piece, real rows).

    Padding repeats the block's first row (valid values for every family); the
    compiled function gives padded rows zero weight and ignores them, so every
    piece has one shape and the block function compiles once.
    """
    m = block.X.shape[0]
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        parts = [None if a is None else a[start:stop] for a in block]
        if stop - start < rows:
            parts = [
                None
                if a is None
                else np.concatenate([a, np.repeat(a[:1], rows - (stop - start), 0)])
                for a in parts
            ]
        yield Block(*parts), stop - start


def default_rows(p: int) -> int:
    rows = max(1, _BLOCK_ENTRIES // max(p, 1))
    return rows - rows % _ROW_MULTIPLE if rows >= _ROW_MULTIPLE else rows


def _with_intercept(X: np.ndarray) -> np.ndarray:
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    return np.concatenate([np.ones((X.shape[0], 1), dtype), X], axis=1)


def _read_rows(array, start: int, stop: int):
    """Rows ``start:stop``; from a memory-mapped file by a plain read.

    Pages touched through a memory map stay resident (and counted in the
    process's memory) until the map is closed; reading the bytes instead keeps
    the resident set at one block, leaving caching to the operating system.
    """
    if (
        isinstance(array, np.memmap)
        and isinstance(array.base, mmap.mmap)  # the whole map, not a view of it
        and array.flags.c_contiguous
        and array.filename
    ):
        shape = (stop - start, *array.shape[1:])
        return np.fromfile(
            array.filename,
            dtype=array.dtype,
            count=math.prod(shape),
            offset=array.offset + start * array.strides[0],
        ).reshape(shape)
    return array[start:stop]


class ArrayChunks:
    """A stream over arrays in memory or on disk, ``chunk_rows`` rows at a time."""

    def __init__(self, X, y, weights, offset, chunk_rows, intercept):
        self.arrays = Block(X, y, weights, offset)
        self.chunk_rows = chunk_rows
        self.intercept = intercept

    def __len__(self) -> int:
        return math.ceil(self.arrays.X.shape[0] / self.chunk_rows)

    def __call__(self) -> Iterator[Block]:
        n = self.arrays.X.shape[0]
        for start in range(0, n, self.chunk_rows):
            stop = min(start + self.chunk_rows, n)
            block = Block(
                *(
                    None if a is None else _read_rows(a, start, stop)
                    for a in self.arrays
                )
            )
            if self.intercept:
                block = block._replace(X=_with_intercept(np.asarray(block.X)))
            yield block


def chunks_from_arrays(
    X,
    y,
    weights=None,
    offset=None,
    *,
    chunk_rows: int | None = None,
    intercept: bool = False,
) -> ArrayChunks:
    """A stream for :func:`jaxglm.fit_stream` that slices arrays by rows.

    Works with arrays that do not fit in memory: ``np.load(path, mmap_mode="r")``
    or ``np.memmap`` arrays are read one slice at a time, so only one block is
    in memory at once (the operating system's page cache may keep more).

    Args:
        X: design matrix, (n, p), e.g. a memory-mapped ``.npy``.
        y: response, (n,).
        weights: prior weights, (n,), or None.
        offset: offset, (n,), or None.
        chunk_rows: rows per block; default about 4 million design entries.
        intercept: prepend a column of ones to each block (as
            :func:`jaxglm.add_intercept`), so the file need not hold one.

    Returns:
        A callable returning a fresh iterator of ``(X, y, weights, offset)``
        blocks; ``len()`` is the number of blocks.
    """
    arrays = {"X": X, "y": y, "weights": weights, "offset": offset}
    shape = np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n, p), got shape {shape}")
    n = shape[0]
    for name in ("y", "weights", "offset"):
        value = arrays[name]
        if value is not None and np.shape(value)[:1] != (n,):
            raise ValueError(
                f"{name} has shape {np.shape(value)} but X has {n} rows; pass one "
                "value per row"
            )
    if chunk_rows is None:
        chunk_rows = default_rows(shape[1] + int(intercept))
    if not isinstance(chunk_rows, int | np.integer) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
    return ArrayChunks(X, y, weights, offset, int(chunk_rows), intercept)


class ParquetChunks:
    """A stream over the row groups of Parquet files, one block per row group."""

    def __init__(self, paths, columns: Block, intercept: bool, n_chunks: int):
        self.paths = paths
        self.columns = columns
        self.intercept = intercept
        self.n_chunks = n_chunks

    def __len__(self) -> int:
        return self.n_chunks

    def __call__(self) -> Iterator[Block]:
        import pyarrow.parquet as pq

        wanted = [
            *self.columns.X,
            *(c for c in self.columns[1:] if c is not None),
        ]
        for path in self.paths:
            file = pq.ParquetFile(path)
            for group in range(file.metadata.num_row_groups):
                table = file.read_row_group(group, columns=wanted)

                def column(name, table=table):
                    return None if name is None else table.column(name).to_numpy()

                X = np.column_stack(
                    [table.column(c).to_numpy() for c in self.columns.X]
                )
                if self.intercept:
                    X = _with_intercept(X)
                yield Block(X, *(column(name) for name in self.columns[1:]))


def chunks_from_parquet(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    x_columns: Sequence[str],
    y_column: str,
    weights_column: str | None = None,
    offset_column: str | None = None,
    *,
    intercept: bool = False,
) -> ParquetChunks:
    """A stream for :func:`jaxglm.fit_stream` reading Parquet row groups.

    Each row group becomes one block, so the memory used is about one row
    group's worth of the named columns.  Needs pyarrow
    (``pip install "jaxglm-stats[parquet]"``).

    Args:
        path: a Parquet file, or a list of files read in order.
        x_columns: the columns of the design matrix, in order.
        y_column: the response column.
        weights_column: prior weights column, or None.
        offset_column: offset column, or None.
        intercept: prepend a column of ones (the file need not hold one).

    Returns:
        A callable returning a fresh iterator of blocks; ``len()`` is the number
        of row groups.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError(
            "chunks_from_parquet needs pyarrow; install it with: pip install "
            '"jaxglm-stats[parquet]"'
        ) from err
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths:
        raise ValueError("path is an empty list; pass at least one Parquet file")
    if isinstance(x_columns, str):
        raise TypeError(
            f"x_columns must be a list of column names, got the string "
            f"{x_columns!r}; write [{x_columns!r}]"
        )
    columns = Block(list(x_columns), y_column, weights_column, offset_column)
    n_chunks = 0
    for one in paths:
        file = pq.ParquetFile(one)
        names = set(file.schema_arrow.names)
        missing = [c for c in [*columns.X, *columns[1:]] if c and c not in names]
        if missing:
            raise ValueError(
                f"{os.fspath(one)} has no column(s) {missing}; its columns are "
                f"{sorted(names)}"
            )
        n_chunks += file.metadata.num_row_groups
    return ParquetChunks(paths, columns, intercept, n_chunks)
