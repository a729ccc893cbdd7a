"""A progress bar for long eager loops (``fit_many`` batches), shown when watched.

tqdm is optional (the ``progress`` extra): with it, ``tqdm.auto`` draws the bar
(a widget in Jupyter when ipywidgets is installed, text otherwise); without it,
a one-line counter is rewritten in place on stderr.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

__all__ = ["is_interactive", "progress_bar", "wants_progress"]


def is_interactive() -> bool:
    """True when stderr is a terminal or the code runs in IPython or Jupyter."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # replaced or closed streams
        pass
    # Only consult IPython when it is already running; never import it.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def wants_progress(progress: bool | None) -> bool:
    """Resolve ``progress=None | True | False`` to whether to show a bar."""
    if progress is None:
        return is_interactive()
    if isinstance(progress, bool):
        return progress
    raise ValueError(
        f"progress must be None (a bar only when run interactively), True or "
        f"False, got {progress!r}"
    )


class _StderrCounter:
    """The fallback without tqdm: ``desc: k/total (pct%) elapsed`` on stderr."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done = total, desc, 0
        self.start = time.perf_counter()
        self._write()

    def _write(self, end: str = "") -> None:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(
            f"\r{self.desc}: {self.done}/{self.total} ({pct:3.0f}%) {elapsed:.1f}s{end}"
        )
        sys.stderr.flush()

    def update(self, count: int) -> None:
        self.done += count
        self._write()

    def close(self) -> None:
        self._write(end="\n")


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """An object with ``update(count)`` and ``close()``; a no-op when disabled."""
    if not enabled:
        return _Silent()
    try:
        with warnings.catch_warnings():
            # In Jupyter without ipywidgets tqdm.auto warns once and falls back
            # to its text bar, which is what we want anyway.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        return _StderrCounter(total, desc)
    return tqdm(total=total, desc=desc, unit="fit", file=sys.stderr)


class _Silent:
    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass
