"""A progress line per pass of a streaming fit: tqdm when installed, else ``\\r``."""

from __future__ import annotations

import sys
import time

from ._progressbar import wants_progress

__all__ = ["PassProgress"]

_REFRESH_SECONDS = 0.2


class PassProgress:
    """Shows the chunks and rows read in the current pass, one line per pass.

    Args:
        progress: True, False, or None to show progress only when someone is
            watching (stderr is a terminal, or IPython), so logs stay clean.
        n_chunks: chunks per pass when the source knows (``len(chunks)``).
    """

    def __init__(self, progress: bool | None, n_chunks: int | None):
        self.enabled = wants_progress(progress)
        self.n_chunks = n_chunks
        self._bar = None
        self._line = ""

    def start(self, index: int, what: str) -> None:
        if not self.enabled:
            return
        self._chunks, self._rows, self._shown = 0, 0, 0.0
        self._begin = time.perf_counter()
        self._label = f"pass {index} ({what})"
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._bar = None
            self._draw()
            return
        self._bar = tqdm(
            total=self.n_chunks, desc=self._label, unit="chunk", file=sys.stderr
        )

    def advance(self, rows: int) -> None:
        if not self.enabled:
            return
        self._chunks += 1
        self._rows += rows
        if self._bar is not None:
            self._bar.update(1)
        elif time.perf_counter() - self._shown > _REFRESH_SECONDS:
            self._draw()

    def finish(self, note: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self._rows:,} rows, {note}")
            self._bar.close()
            return
        self._draw(note)
        sys.stderr.write("\n")
        sys.stderr.flush()
        self._line = ""

    def _draw(self, note: str = "") -> None:
        self._shown = time.perf_counter()
        total = f"/{self.n_chunks}" if self.n_chunks else ""
        line = (
            f"{self._label}: {self._chunks}{total} chunks, {self._rows:,} rows, "
            f"{self._shown - self._begin:.1f} s"
        )
        line = f"{line}, {note}" if note else line
        sys.stderr.write("\r" + line.ljust(len(self._line)))
        sys.stderr.flush()
        self._line = line
