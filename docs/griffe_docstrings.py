"""A griffe extension: jaxglm's docstrings as mkdocstrings renders them.

The docstrings are Google style with a few reStructuredText habits that read well
in ``help()`` but not on the site; this rewrites them while the API reference is
built (the source is untouched):

- Sphinx roles (``:class:`GLMResult```, ``:func:`~jaxglm.fit```) become inline code.
- In a ``Raises:`` section, a continuation line written at the indentation of its
  item (``ValueError, TypeError: ...`` then ``tracing the fit ...``) is indented
  under the item, as the Google style wants, instead of being read as a new item.
- In an ``Args:`` section, a list of names that shares one description and wraps
  (``alpha, lambdas, ...,`` then ``weights, offset: as fit_path``) is joined
  into one line, which griffe reads as one item.

Loaded by ``mkdocs.yml`` (``extensions: [docs/griffe_docstrings.py]``).
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|obj|exc):`~?([^`]+)`")
_SECTION = re.compile(r"^(\s*)(\w[\w ]*):\s*$")
# "a, b, c," : names only, ending in a comma, continued on the next line.
_WRAPPED_NAMES = re.compile(r"^[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*\s*,$")
_RAISES_ITEM = re.compile(r"^[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*:(\s|$)")


def _role_to_code(match: re.Match[str]) -> str:
    return f"``{match.group(1)}``"


def _indent_raises_continuations(text: str) -> str:
    lines = text.split("\n")
    out = []
    section_indent = None  # indentation of the current "Raises:" header
    item_indent = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        header = _SECTION.match(line)
        if header:
            section_indent = indent if header.group(2) == "Raises" else None
            item_indent = None
            out.append(line)
            continue
        if section_indent is not None and stripped:
            if indent <= section_indent:
                section_indent = None
            elif item_indent is None:
                item_indent = indent
            elif indent == item_indent and not _RAISES_ITEM.match(stripped):
                line = " " * 4 + line
        out.append(line)
    return "\n".join(out)


def _join_wrapped_names(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_args = False
    for line in lines:
        header = _SECTION.match(line)
        if header:
            in_args = header.group(2) in ("Args", "Arguments", "Parameters")
        elif in_args and out and _WRAPPED_NAMES.match(out[-1].strip()) and line.strip():
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
            continue
        out.append(line)
    return "\n".join(out)


class JaxglmDocstrings(griffe.Extension):
    """Rewrites the docstring of every object loaded, before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None:
            return
        text = _ROLE.sub(_role_to_code, obj.docstring.value)
        text = _join_wrapped_names(text)
        obj.docstring.value = _indent_raises_continuations(text)
