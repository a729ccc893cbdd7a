"""``jg.fit_stream``: a fit read block by block equals ``jg.fit`` on all the rows.

The stream runs ``jg.fit``'s IRLS with the same starting values, halving and
convergence rule, only with the sums over rows taken block by block, so every
statistic agrees to rounding: rtol 1e-10 (the blocks change the order of the
floating-point sums, nothing else), and the counts exactly.  Block sizes are
chosen not to divide n, so the last block is padded.

Shapes repeat across tests (n = 1003, blocks of 250, p = 4) so the block
function and the in-memory fit compile once per family.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm import _stream_pass

N, P, ROWS = 1003, 4, 250
RTOL = 1e-10
FIELDS = ("coef", "se", "cov", "z", "pvalues", "deviance", "null_deviance",
          "loglik", "aic", "bic", "scale")  # fmt: skip
EXACT = ("df_resid", "df_model", "df_null", "nobs", "rank", "n_iter", "status",
         "converged", "aliased")  # fmt: skip


def assert_same(stream, memory, what=""):
    for name in FIELDS:
        # NaN where both are NaN: aliased coefficients, as R's NA.
        np.testing.assert_allclose(
            np.asarray(getattr(stream, name)), np.asarray(getattr(memory, name)),
            rtol=RTOL, atol=RTOL, err_msg=f"{what}{name}",
        )  # fmt: skip
    for name in EXACT:
        np.testing.assert_array_equal(
            np.asarray(getattr(stream, name)),
            np.asarray(getattr(memory, name)),
            err_msg=f"{what}{name}",
        )


def design(seed, n=N, p=P):
    rng = np.random.default_rng(seed)
    return rng, np.column_stack([np.ones(n), rng.normal(scale=0.5, size=(n, p - 1))])


def test_poisson_log_with_offset_matches_fit():
    rng, X = design(0)
    offset = np.log(rng.uniform(1.0, 3.0, N))
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2, 0.1] + offset)).astype(float)
    memory = jg.fit(X, y, jg.Poisson(), offset=offset)
    stream = jg.fit_stream(
        jg.chunks_from_arrays(X, y, offset=offset, chunk_rows=ROWS), jg.Poisson()
    )
    assert_same(stream, memory)
    # The intercept-only fit behind the null deviance ran in the same passes.
    assert int(stream.n_passes) == int(stream.n_iter) + 1
    assert int(stream.n_rows) == N


def test_binomial_logit_with_trials_and_zero_weights_matches_fit():
    rng, X = design(1)
    trials = rng.integers(1, 8, N).astype(float)
    trials[::17] = 0.0
    p_true = 1.0 / (1.0 + np.exp(-(X @ [-0.2, 0.8, 0.5, -0.4])))
    y = rng.binomial(trials.astype(int), p_true) / np.maximum(trials, 1.0)
    memory = jg.fit(X, y, jg.Binomial(), weights=trials)
    stream = jg.fit_stream(
        jg.chunks_from_arrays(X, y, trials, chunk_rows=ROWS), jg.Binomial()
    )
    assert_same(stream, memory)
    assert int(stream.nobs) < int(stream.n_rows) == N


def test_separated_binomial_is_flagged_as_in_memory():
    _, X = design(1)
    y = (X[:, 1] > 0).astype(float)
    trials = np.ones(N)
    with pytest.warns(jg.ConvergenceWarning):
        memory = jg.fit(X, y, jg.Binomial(), weights=trials)
    with pytest.warns(jg.ConvergenceWarning):
        stream = jg.fit_stream(
            jg.chunks_from_arrays(X, y, trials, chunk_rows=ROWS), jg.Binomial()
        )
    assert int(stream.status) == int(memory.status) == jg.Status.SEPARATION
    np.testing.assert_array_equal(int(stream.n_iter), int(memory.n_iter))


def test_gamma_log_matches_fit():
    rng, X = design(2)
    mu = np.exp(X @ [1.0, 0.3, -0.2, 0.2])
    y = rng.gamma(shape=2.0, scale=mu / 2.0)
    family = jg.Gamma(link=jg.links.Log())
    memory = jg.fit(X, y, family)
    stream = jg.fit_stream(jg.chunks_from_arrays(X, y, chunk_rows=ROWS), family)
    assert_same(stream, memory)


def test_gaussian_ridge_with_aliased_column_and_dict_blocks_matches_fit():
    rng, X = design(3)
    X = np.column_stack([X, X[:, 1] - 2.0 * X[:, 2]])  # aliased, as R's NA
    weights = rng.uniform(0.5, 2.0, N)
    weights[5] = 0.0
    y = X[:, :4] @ [1.0, 2.0, -1.0, 0.5] + rng.normal(size=N)
    memory = jg.fit(X, y, jg.Gaussian(), weights=weights, l2=0.3)
    blocks = [
        {"X": X[i : i + 300], "y": y[i : i + 300], "weights": weights[i : i + 300]}
        for i in range(0, N, 300)
    ]
    stream = jg.fit_stream(blocks, jg.Gaussian(), l2=0.3)  # a list is re-iterable
    assert_same(stream, memory)
    assert np.isnan(np.asarray(stream.coef)[4])
    assert "not defined because of singularities" in str(jg.summary(stream))
    np.testing.assert_allclose(
        jg.predict(stream, X[:7]), jg.predict(memory, X[:7]), rtol=RTOL
    )


def test_memory_mapped_npy_with_intercept(tmp_path):
    rng, X = design(4)
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2, 0.1])).astype(float)
    np.save(tmp_path / "X.npy", X[:, 1:].astype(np.float32))
    np.save(tmp_path / "y.npy", y.astype(np.float32))
    X_disk = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_disk = np.load(tmp_path / "y.npy", mmap_mode="r")
    chunks = jg.chunks_from_arrays(X_disk, y_disk, chunk_rows=ROWS, intercept=True)
    assert len(chunks) == 5
    stream = jg.fit_stream(chunks, jg.Poisson())
    # float32 on disk, float64 sums: the fit of the float32 values, widened.
    X32 = jg.add_intercept(X[:, 1:].astype(np.float32)).astype(np.float64)
    memory = jg.fit(np.asarray(X32), y.astype(np.float32).astype(np.float64),
                    jg.Poisson())  # fmt: skip
    assert_same(stream, memory)


def test_parquet_row_groups(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng, X = design(5)
    weights = rng.uniform(0.5, 2.0, N)
    offset = rng.normal(scale=0.2, size=N)
    y = X @ [1.0, 2.0, -1.0, 0.5] + offset + rng.normal(size=N)
    columns = {f"x{j}": X[:, j] for j in range(1, P)}
    table = pa.table({**columns, "y": y, "w": weights, "off": offset})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path, row_group_size=300)
    chunks = jg.chunks_from_parquet(
        path, ["x1", "x2", "x3"], "y", "w", "off", intercept=True
    )
    assert len(chunks) == 4
    stream = jg.fit_stream(chunks, jg.Gaussian())
    memory = jg.fit(X, y, jg.Gaussian(), weights=weights, offset=offset)
    assert_same(stream, memory)
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        jg.chunks_from_parquet(path, ["x1", "nope"], "y")


def _blocks(X, y, weights=None):
    return [
        (X[i : i + ROWS], y[i : i + ROWS])
        + (() if weights is None else (weights[i : i + ROWS],))
        for i in range(0, len(y), ROWS)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y, w: X.__setitem__((600, 2), np.nan),
         r"chunk 2: X contains 1 NaN .* \(first at row, column 100, 2\)"),
        (lambda X, y, w: w.__setitem__(260, -1.0),
         r"chunk 1: weights must be non-negative, found -1.0 at index 10"),
        (lambda X, y, w: y.__setitem__(3, -2.0),
         r"chunk 0: y must be non-negative counts for the Poisson family"),
    ],
    ids=["nan-X", "negative-weight", "y-off-support"],
)  # fmt: skip
def test_bad_chunks_raise_naming_the_chunk_and_argument(change, message):
    _, X = design(6)
    y, weights = np.ones(N), np.ones(N)
    change(X, y, weights)
    with pytest.raises(ValueError, match=message):
        jg.fit_stream(_blocks(X, y, weights), jg.Poisson())


def test_malformed_streams_raise():
    _, X = design(6)
    y = np.ones(N)
    blocks = _blocks(X, y)
    with pytest.raises(TypeError, match="chunks is an iterator"):
        jg.fit_stream(iter(blocks), jg.Poisson())
    with pytest.raises(ValueError, match="chunk 1: X has 3 columns but the first"):
        jg.fit_stream([blocks[0], (X[:10, :3], y[:10])], jg.Poisson())
    with pytest.raises(ValueError, match="chunk 1: weights is given but the first"):
        jg.fit_stream([blocks[0], (X[:10], y[:10], y[:10])], jg.Poisson())
    with pytest.raises(ValueError, match="chunk 0: y has shape \\(9,\\) but X has 10"):
        jg.fit_stream([(X[:10], y[:9])], jg.Poisson())
    with pytest.raises(TypeError, match="chunk 0: expected a tuple"):
        jg.fit_stream([X], jg.Poisson())
    with pytest.raises(ValueError, match="weights are all zero"):
        jg.fit_stream([(X[:10], y[:10], np.zeros(10))], jg.Poisson())
    with pytest.raises(ValueError, match="chunks yielded no rows"):
        jg.fit_stream(lambda: iter([]), jg.Poisson())
    shrinking = iter([blocks, blocks[:2]])
    with pytest.raises(RuntimeError, match="rows on pass 1 but 1003 on the first"):
        jg.fit_stream(lambda: iter(next(shrinking)), jg.Poisson())


def test_block_function_compiles_once_per_stream_shape():
    rng, X = design(7)
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2, 0.1])).astype(float)
    chunks = jg.chunks_from_arrays(X, y, chunk_rows=ROWS)
    jg.fit_stream(chunks, jg.Poisson())
    before = _stream_pass._accumulate._cache_size()
    # Different data and a different last-block length: no new compile.
    y2 = rng.poisson(np.exp(X @ [0.1, 0.2, 0.2, 0.1])).astype(float)
    jg.fit_stream(jg.chunks_from_arrays(X[:-7], y2[:-7], chunk_rows=ROWS), jg.Poisson())
    assert _stream_pass._accumulate._cache_size() == before


def test_float32_smoke():
    rng, X = design(7)  # the data and shapes of the test above
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2, 0.1])).astype(float)
    wide = jg.fit_stream(jg.chunks_from_arrays(X, y, chunk_rows=ROWS), jg.Poisson())
    with jax.enable_x64(False):
        chunks = jg.chunks_from_arrays(
            X.astype(np.float32), y.astype(np.float32), chunk_rows=ROWS
        )
        narrow = jg.fit_stream(chunks, jg.Poisson())
        assert narrow.coef.dtype == jnp.float32
        assert int(narrow.status) == jg.Status.SUCCESS
        for name in ("coef", "se", "deviance", "null_deviance", "aic"):
            np.testing.assert_allclose(
                np.asarray(getattr(narrow, name)), np.asarray(getattr(wide, name)),
                rtol=1e-4, atol=1e-5, err_msg=name,
            )  # fmt: skip


def test_progress_line_on_request(capsys):
    rng, X = design(7)
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2, 0.1])).astype(float)
    chunks = jg.chunks_from_arrays(X, y, chunk_rows=ROWS)
    jg.fit_stream(chunks, jg.Poisson(), progress=False)
    assert capsys.readouterr().err == ""
    jg.fit_stream(chunks, jg.Poisson(), progress=True)
    err = capsys.readouterr().err
    assert "pass 0 (start)" in err and "deviance" in err
