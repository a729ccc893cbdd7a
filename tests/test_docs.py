"""Every public name has a docstring and an entry in the API reference (docs/api/).

The public names are read at run time: ``jaxglm.__all__`` and the ``__all__`` of
the public modules it names (``jaxglm.links``, ``jaxglm.plot``,
``jaxglm.datasets``).  An entry is a mkdocstrings directive, ``::: jaxglm.NAME``
on its own line in a page of ``docs/api/``, naming the public path or the object's
defining module (``::: jaxglm._sklearn.GLMRegressor`` for the lazily imported
scikit-learn estimators).  ``make docs`` builds the pages in strict mode; this
test needs none of the docs extra.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import pytest

import jaxglm as jg

API_DIR = Path(__file__).resolve().parents[1] / "docs" / "api"
DIRECTIVE = re.compile(r"^:::\s+(\S+)\s*$", re.MULTILINE)
HOW_TO_ADD = (
    "add a line `::: {path}` to the page of docs/api/ where it belongs "
    "(and its row to the table in docs/api/index.md)"
)


def _public_paths() -> list[str]:
    paths = []
    for name in jg.__all__:
        paths.append(f"jaxglm.{name}")
        module = getattr(jg, name, None) if name not in _LAZY else None
        if isinstance(module, types.ModuleType):
            paths.extend(f"jaxglm.{name}.{member}" for member in module.__all__)
    return paths


# Names jaxglm imports on first access (scikit-learn is optional).
_LAZY = ("GLMRegressor", "GLMClassifier")
PUBLIC = _public_paths()


def _resolve(path: str):
    """The object at a dotted path: ``jaxglm.links.Log``, ``jaxglm._sklearn.X``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def _public_object(path: str):
    name = path.split(".")[1]
    if name in _LAZY:
        pytest.importorskip("sklearn")
    return _resolve(path)


def _directives() -> dict[str, str]:
    """Each ``::: path`` of the API pages, with the page it is on."""
    found = {}
    for page in sorted(API_DIR.glob("*.md")):
        for path in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            found[path] = page.name
    return found


def test_api_pages_exist():
    assert (API_DIR / "index.md").exists()
    assert _directives(), f"no `::: name` directives in {API_DIR}"


@pytest.mark.parametrize("path", PUBLIC)
def test_public_name_has_docstring(path):
    obj = _public_object(path)
    doc = obj.__doc__ or ""
    name = path.rsplit(".", 1)[-1]
    # A dataclass without a docstring gets its signature, "Name(field=...)".
    generated = doc.startswith(f"{name}(")
    assert doc.strip() and not generated, (
        f"{path} has no docstring; give it one (Google style, STYLE.md section 8)"
    )


@pytest.mark.parametrize("path", PUBLIC)
def test_public_name_in_api_reference(path):
    directives = _directives()
    if path in directives:
        return
    obj = _public_object(path)
    # Also accepted: the defining module's path of the same object.
    for target in directives:
        if target.rsplit(".", 1)[-1] != path.rsplit(".", 1)[-1]:
            continue
        try:
            if _resolve(target) is obj:
                return
        except (ImportError, AttributeError):
            continue
    pytest.fail(
        f"{path} has no entry in the API reference: {HOW_TO_ADD.format(path=path)}"
    )


def test_api_reference_names_exist():
    """No entry for a name that is gone (mkdocs would fail on it too, later)."""
    missing = []
    for target, page in _directives().items():
        if "._sklearn." in target:
            pytest.importorskip("sklearn")
        try:
            _resolve(target)
        except (ImportError, AttributeError):
            missing.append(f"{page}: {target}")
    assert not missing, f"API pages name objects that do not exist: {missing}"
