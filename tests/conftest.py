"""Test-suite configuration: float64, strict rank promotion, hypothesis profiles.

- x64 is on for every test (R-level accuracy); float32 checks opt out locally with
  ``with jax.enable_x64(False):``.
- ``jax_numpy_rank_promotion="raise"`` catches silent broadcasting bugs.
- Hypothesis: profile "default" (25 examples, no deadline, derandomised when the
  ``CI`` environment variable is set) or "long" (1000 examples) when
  ``JAXGLM_HYPOTHESIS=long``.
- Tests marked ``slow`` run only with ``JAXGLM_SLOW=1``.
- Warnings are errors (STYLE.md section 10); a test that expects one says so.
- Compiled fits are kept in JAX's persistent compilation cache under
  ``.pytest_cache/jax-compilation-cache`` (git-ignored), because compiling a fit
  takes seconds on a small CPU and the suite compiles dozens of distinct fits
  (family x link x shape x dtype). The cache is keyed on the lowered program, the
  compiler options and the jax version, so it never changes a number; set
  ``JAXGLM_JAX_CACHE=0`` to turn it off or ``JAXGLM_JAX_CACHE=/some/dir`` to move it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import pytest
from hypothesis import settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

_CACHE = os.environ.get("JAXGLM_JAX_CACHE", "")
if _CACHE.lower() not in ("0", "off", "false", "no"):
    _cache_dir = (
        Path(_CACHE)
        if _CACHE
        else (
            Path(__file__).resolve().parent.parent
            / ".pytest_cache"
            / "jax-compilation-cache"
        )
    )
    jax.config.update("jax_compilation_cache_dir", str(_cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# Let the test modules import their shared helpers (cases.py, refdata.py) whatever
# pytest import mode is in use.
_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

import refdata  # noqa: E402
from jaxmem import release_compiled_programs_if_needed  # noqa: E402

_IN_CI = bool(os.environ.get("CI"))
settings.register_profile(
    "default", deadline=None, max_examples=25, derandomize=_IN_CI, print_blob=True
)
settings.register_profile(
    "long", deadline=None, max_examples=1000, derandomize=_IN_CI, print_blob=True
)
settings.load_profile(
    "long" if os.environ.get("JAXGLM_HYPOTHESIS", "").lower() == "long" else "default"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long-running tests; run only when JAXGLM_SLOW=1"
    )
    config.addinivalue_line("filterwarnings", "error")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if os.environ.get("JAXGLM_SLOW") == "1":
        return
    skip_slow = pytest.mark.skip(reason="slow test: set JAXGLM_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _bounded_memory_maps():
    """Every test starts under the memory-map cap (tests/jaxmem.py)."""
    release_compiled_programs_if_needed()
    yield


@pytest.fixture(scope="session")
def load_reference():
    """``load_reference(name)``: one R reference JSON from tests/reference, by name."""
    return refdata.load
