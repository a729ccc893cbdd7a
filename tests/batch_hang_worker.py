"""Run 10,000-fit batches as a user would; tests/test_batch_no_hang.py runs this
in fresh processes under a timeout (a hang in XLA:CPU cannot be caught in-process).

Usage: python batch_hang_worker.py REPEATS
Nothing about threads or CPUs is set: XLA sizes its thread pool from the
machine as a user's process would.  Prints one ``OK <what> <seconds>`` line
per finished batch.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxglm as jg

jax.config.update("jax_enable_x64", True)

FITS, N, P = 10_000, 200, 8


def main(repeats: int) -> None:
    rng = np.random.default_rng(0)
    fit_each = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson())))
    hat_each = jax.jit(jax.vmap(lambda X, y: jg.influence(jg.fit(X, y), X).hat))
    for _ in range(repeats):
        # Separate designs: vmap of jg.fit, then the batched diagnostics.
        X = rng.normal(size=(FITS, N, P)) * 0.3
        X[..., 0] = 1.0
        eta = X @ (rng.normal(size=P) * 0.3)
        Y = rng.poisson(np.exp(eta)).astype(float)
        start = time.perf_counter()
        res = fit_each(jnp.asarray(X), jnp.asarray(Y))
        assert int(jnp.sum(res.status == jg.Status.SUCCESS)) == FITS
        print(f"OK vmap-fit {time.perf_counter() - start:.2f}", flush=True)
        start = time.perf_counter()
        hat = hat_each(jnp.asarray(X), jnp.asarray(Y)).block_until_ready()
        assert np.allclose(np.sum(hat, axis=1), P)  # trace of the hat matrix
        print(f"OK vmap-influence {time.perf_counter() - start:.2f}", flush=True)
        del X, eta, Y, res, hat

        # One shared design: fit_many, logistic, with inference on every fit.
        X = rng.normal(size=(N, P)) * 0.3
        X[:, 0] = 1.0
        prob = 1.0 / (1.0 + np.exp(-(X @ (rng.normal(size=P) * 0.3))))
        Y = rng.binomial(1, prob, size=(FITS, N)).astype(float)
        start = time.perf_counter()
        res = jg.fit_many(X, Y, jg.Binomial(), progress=False)
        assert int(np.sum(np.asarray(res.status) == jg.Status.SUCCESS)) == FITS
        assert np.all(np.isfinite(np.asarray(res.se)))
        print(f"OK fit_many {time.perf_counter() - start:.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
