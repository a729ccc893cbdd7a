"""Keep a test process under Linux's memory-map cap while it compiles many programs.

XLA's CPU backend maps ~300 memory regions per compiled program and Linux caps a
process at ``vm.max_map_count`` (65530 by default): past about 200 live programs
XLA segfaults while compiling.  The suite compiles more than that (families x links
x shapes x dtypes), so compiled programs are dropped from memory when the process
nears the cap; the persistent compilation cache (conftest.py) makes recompiling
them cheap.
"""

from __future__ import annotations

import gc

import jax

_MAP_BUDGET = 40_000


def release_compiled_programs_if_needed() -> None:
    """Drop JAX's in-memory compiled programs when the process nears the map cap."""
    try:
        with open("/proc/self/maps") as maps:
            count = sum(1 for _ in maps)
    except OSError:  # not Linux
        return
    if count > _MAP_BUDGET:
        jax.clear_caches()
        gc.collect()
