"""Every notebook in ``notebooks/`` runs top to bottom (STYLE.md section 12).

Each notebook is executed with nbclient in a fresh kernel.  The kernel is this
interpreter (``sys.executable``), whatever kernels Jupyter has registered: the
test writes a throw-away kernel spec to a temporary directory and puts it first
on ``JUPYTER_PATH`` under a unique name, so a fresh clone needs only
``pip install -e .[test]``.  A cell that raises fails the test; notebooks end with
a cell of assertions, and the test also checks that it printed its all-clear.

The kernels run with ``JAXGLM_NOTEBOOK_QUICK=1`` (notebooks with a large batch
shrink it), matplotlib's Agg backend, and the suite's persistent JAX compilation
cache (see conftest.py), so a second run skips most of the compiling.

Marked ``notebooks``: deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# Each notebook and the optional packages it imports beyond jaxglm's own.
NEEDS = {
    "differentiable_glm.ipynb": ("optax",),
    "eqtl_screen.ipynb": ("matplotlib", "statsmodels"),
    "glm_heads.ipynb": ("matplotlib", "optax"),
    "insurance_claims.ipynb": ("matplotlib", "pandas", "formulaic"),
    "logistic_odds_ratios.ipynb": ("matplotlib", "pandas", "formulaic"),
}
KERNEL_NAME = "jaxglm-test-python"
TIMEOUT = 600

pytestmark = pytest.mark.notebooks


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernel spec that runs this very interpreter, first on JUPYTER_PATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # jupyter_core warns (DeprecationWarning, an error here) unless this is set.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JAXGLM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cache_dir = jax.config.jax_compilation_cache_dir
    if cache_dir:
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache_dir))
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    return KERNEL_NAME


def _text_outputs(notebook) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            elif "data" in output:
                texts.append(output["data"].get("text/plain", ""))
    return texts


def test_there_are_notebooks():
    missing = set(NEEDS) - {path.name for path in NOTEBOOKS}
    assert not missing, f"notebooks missing from {NOTEBOOKS_DIR}: {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_name):
    for module in NEEDS.get(path.name, ()):
        pytest.importorskip(module)
    notebook = nbformat.read(path, as_version=4)
    # Committed without outputs (STYLE.md section 12).
    assert all(not cell.get("outputs") for cell in notebook.cells if "outputs" in cell)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
    texts = _text_outputs(notebook)
    assert texts and "all checks passed" in texts[-1], texts[-3:]
