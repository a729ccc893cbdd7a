"""Execute the notebooks in ``notebooks/``, and tell whether a stored one is stale.

``make notebooks`` runs this file: every notebook is executed top to bottom in a
fresh kernel (this interpreter, whatever kernels Jupyter has registered) and
written back in place with its outputs, so a reader browsing the repository or the
documentation site sees the tables and figures.  The run is full size (not
``JAXGLM_NOTEBOOK_QUICK``), figures are PNG at 100 dpi, and the notebook's
metadata records a hash of its code cells (``metadata.jaxglm.code_sha256``) and
which of them had outputs; ``tests/test_notebooks.py`` fails when the code has
changed since (the notebook is stale) or when outputs are missing.  Seeds are
fixed in the notebooks, so a re-run changes nothing but timings.

    python tests/notebook_runner.py                    # every notebook
    python tests/notebook_runner.py notebooks/eqtl_screen.ipynb

The test suite imports the same helpers to execute copies (writing nothing back).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
KERNEL_NAME = "jaxglm-notebook-python"
TIMEOUT = 600
# Where ``make notebooks`` records what it ran; the stale-notebook test reads it.
METADATA_KEY = "jaxglm"
# PNG only (no SVG or retina doubles), at a resolution that keeps a notebook small.
FIGURE_DPI = 100


def code_sha256(notebook) -> str:
    """The hash of a notebook's code cells, in order (markdown edits don't count)."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            source = cell.source
            if isinstance(source, list):
                source = "".join(source)
            digest.update(source.encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


def cells_with_outputs(notebook) -> list[int]:
    """Indices (among the code cells) of the code cells that have outputs."""
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return [i for i, cell in enumerate(code_cells) if cell.get("outputs")]


def write_kernel_spec(jupyter_dir: Path, name: str = KERNEL_NAME) -> None:
    """A kernel spec under ``jupyter_dir`` that runs this very interpreter."""
    spec_dir = jupyter_dir / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--InlineBackend.figure_formats=png",
            f"--InlineBackend.rc={{'figure.dpi': {FIGURE_DPI}}}",
        ],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def kernel_environment(jupyter_dir: Path, *, quick: bool) -> dict[str, str]:
    """Environment variables for a kernel that uses the spec in ``jupyter_dir``."""
    env = {
        "JUPYTER_PATH": str(jupyter_dir),
        # jupyter_core warns (DeprecationWarning, an error in the tests) unless set.
        "JUPYTER_PLATFORM_DIRS": "1",
        # No user IPython profile (startup files, figure settings) leaks in.
        "IPYTHONDIR": str(jupyter_dir / "ipython"),
        "JAXGLM_NOTEBOOK_QUICK": "1" if quick else "0",
        "PYTHONHASHSEED": "0",
    }
    return env


def execute(notebook, kernel_name: str = KERNEL_NAME):
    """Run ``notebook`` (an nbformat node) in place in ``notebooks/``; return it."""
    import nbclient

    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name=kernel_name,
        record_timing=False,
        # One stream output per cell and stream, however the kernel's messages
        # were split in time, so that a re-run stores the same outputs.
        coalesce_streams=True,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()
    return notebook


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the kernels started."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def refresh(path: Path) -> float:
    """Execute the notebook at ``path`` full size and store it with its outputs."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    kernelspec = notebook.metadata.get("kernelspec")
    with tempfile.TemporaryDirectory() as tmp:
        jupyter_dir = Path(tmp)
        write_kernel_spec(jupyter_dir)
        env: dict[str, str | None] = {
            **kernel_environment(jupyter_dir, quick=False),
            # The inline backend, so that figures are stored as PNG outputs.
            "MPLBACKEND": None,
        }
        start = time.perf_counter()
        with _environment(env):
            execute(notebook)
        seconds = time.perf_counter() - start
    # Keep the portable kernel name, not the throw-away one used to run it.
    if kernelspec is not None:
        notebook.metadata["kernelspec"] = kernelspec
    notebook.metadata[METADATA_KEY] = {
        "code_sha256": code_sha256(notebook),
        # Which code cells printed or showed something: the test checks they still do.
        "cells_with_outputs": cells_with_outputs(notebook),
    }
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="notebooks to execute (default: every notebooks/*.ipynb)",
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path} ...", flush=True)
        seconds = refresh(path)
        size = path.stat().st_size / 1e3
        print(f"  {seconds:.0f} s, {size:.0f} kB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
