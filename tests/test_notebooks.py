"""Every notebook in ``notebooks/`` runs top to bottom, and is stored executed.

Each notebook is executed with nbclient in a fresh kernel.  The kernel is this
interpreter (``sys.executable``), whatever kernels Jupyter has registered: the
test writes a throw-away kernel spec to a temporary directory and puts it first
on ``JUPYTER_PATH`` under a unique name, so a fresh clone needs only
``pip install -e .[test]``.  A cell that raises fails the test; notebooks end with
a cell of assertions, and the test also checks that it printed its all-clear.
The executed copy is thrown away: nothing is written back.

The kernels run with ``JAXGLM_NOTEBOOK_QUICK=1`` (notebooks with a large batch
shrink it), matplotlib's Agg backend, and the suite's persistent JAX compilation
cache (see conftest.py), so a second run skips most of the compiling.

The notebooks are committed with their outputs (``make notebooks``, which runs
``tests/notebook_runner.py``, executes them full size and stores them), and
``test_notebook_is_fresh`` fails on a stale one: code cells changed since it was
executed (their hash differs from the one ``make notebooks`` recorded), a code
cell not executed in order in one run, outputs stripped, an error output, no
all-clear, a figure that is not PNG, or a file too large.  It starts no kernel.

Marked ``notebooks``: deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import jax
import pytest

import notebook_runner

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS_DIR = notebook_runner.NOTEBOOKS_DIR
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# Each notebook and the optional packages it imports beyond jaxglm's own.
NEEDS = {
    "differentiable_glm.ipynb": ("optax",),
    "eqtl_screen.ipynb": ("matplotlib", "statsmodels"),
    "glm_heads.ipynb": ("matplotlib", "optax"),
    "insurance_claims.ipynb": ("matplotlib", "pandas", "formulaic"),
    "logistic_odds_ratios.ipynb": ("matplotlib", "pandas", "formulaic"),
    "penalty_tuning.ipynb": ("optax",),
}
KERNEL_NAME = "jaxglm-test-python"
# What a stored notebook may weigh: its figures are PNG at 100 dpi.
MAX_BYTES = 1_500_000
ALL_CLEAR = "all checks passed"
REFRESH = "run `make notebooks` and commit the notebooks"

pytestmark = pytest.mark.notebooks


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernel spec that runs this very interpreter, first on JUPYTER_PATH."""
    jupyter_dir = tmp_path / "jupyter"
    notebook_runner.write_kernel_spec(jupyter_dir, KERNEL_NAME)
    for key, value in notebook_runner.kernel_environment(
        jupyter_dir, quick=True
    ).items():
        monkeypatch.setenv(key, value)
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


def _errors(notebook) -> list:
    return [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_name):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for module in NEEDS.get(path.name, ()):
        pytest.importorskip(module)
    # A copy, read from disk and never written back; its stored outputs are
    # cleared before it runs.
    notebook = nbformat.read(path, as_version=4)
    notebook_runner.execute(notebook, kernel_name=kernel_name)
    errors = _errors(notebook)
    assert not errors, errors
    texts = _text_outputs(notebook)
    assert texts and ALL_CLEAR in texts[-1], texts[-3:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_fresh(path):
    """The stored notebook is the output of `make notebooks` on its current code."""
    size = path.stat().st_size
    assert size <= MAX_BYTES, (
        f"{path.name} is {size / 1e6:.1f} MB; keep figures small (PNG, 100 dpi)"
    )
    notebook = nbformat.read(path, as_version=4)
    record = notebook.metadata.get(notebook_runner.METADATA_KEY)
    assert record, f"{path.name} was not executed by `make notebooks`; {REFRESH}"
    assert record.get("code_sha256") == notebook_runner.code_sha256(notebook), (
        f"{path.name} is stale: its code cells changed since it was executed; {REFRESH}"
    )
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.get("execution_count") for cell in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), (
        f"{path.name}: code cells not executed top to bottom in one run "
        f"(execution counts {counts}); {REFRESH}"
    )
    expected = record.get("cells_with_outputs")
    assert expected, f"{path.name} has no record of its outputs; {REFRESH}"
    stripped = [i for i in expected if not code_cells[i].get("outputs")]
    assert not stripped, (
        f"{path.name}: code cells {stripped} lost their outputs; {REFRESH}"
    )
    errors = _errors(notebook)
    assert not errors, f"{path.name} was stored with an error output: {errors}"
    texts = _text_outputs(notebook)
    assert texts and ALL_CLEAR in texts[-1], (
        f"{path.name} does not end with its all-clear; {REFRESH}"
    )
    for cell in code_cells:
        for output in cell.get("outputs", []):
            images = [key for key in output.get("data", {}) if key.startswith("image/")]
            assert set(images) <= {"image/png"}, (
                f"{path.name} stores {images}; figures should be PNG only"
            )
