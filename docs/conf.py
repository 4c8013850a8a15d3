"""Sphinx configuration of the offline docs site: `python -m sphinx -W -b html docs _site` (from the project root).

The pages are the committed notebooks of `nbs/` (through the `docs/nbs` link), rendered with their committed outputs;
nothing is executed. The API reference is written at build time from the package's modules (see `api_page`).
"""
import json, pkgutil, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "topo_r1"
author = "topo_r1 developers"
copyright = "topo_r1 developers, Apache-2.0"
root_doc = "index"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
html_theme = "sphinx_book_theme"
html_title = "topo_r1"
html_theme_options = {"show_toc_level": 2, "use_download_button": False, "navigation_with_keys": False}
html_static_path = []
html_copy_source = False            # the .ipynb sources stay in the repository; the site carries the rendered pages

# Notebooks: render the committed outputs, never run anything.
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "remove"         # progress bars and library warnings on stderr are noise on a web page
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_site", "**/.ipynb_checkpoints", "nbs/llms.txt", "nbs/images"]
suppress_warnings = [
    "myst.header",                  # notebooks start at '#' and may skip a level; that is a style choice, not a break
    "mystnb.unknown_mime_type",     # ipywidgets state in a notebook's outputs has no static rendering
]

# API reference: autodoc reads the docstrings; imports stay fast (torch, transformers, TRL load inside functions).
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True


def modules() -> list[str]:
    "Every public module of the package, sorted (the generated `_modidx` is not documentation)."
    import topo_r1
    return sorted(m.name for m in pkgutil.iter_modules(topo_r1.__path__) if not m.name.startswith("_"))


def api_page() -> str:
    "The API reference page in MyST: one section per module, its docstring summary and autodoc of its `__all__`."
    out = ["# API reference", "",
           "Generated from the docstrings of the package (`topo_r1/`, exported from the notebooks of `nbs/`; each module's "
           "notebook is its long-form documentation, with examples and tests).", ""]
    for name in modules():
        out += [f"## topo_r1.{name}", "", "```{eval-rst}", f".. automodule:: topo_r1.{name}", "```", ""]
    return "\n".join(out)


_CODE = re.compile(r"(`[^`\n]+`)")
_SPECIAL = re.compile(r"([\\*|_`])")


def markdown_docstring(line: str) -> str:
    "One docstring line written in Markdown (the kit's style) as reStructuredText: `code` literal, the rest escaped."
    parts = [p if _CODE.fullmatch(p) else _SPECIAL.sub(r"\\\1", p) for p in _CODE.split(line)]
    for i in range(1, len(parts), 2):                    # the odd parts are the `code` spans
        parts[i] = f"`{parts[i]}`"
        if parts[i - 1][-1:].isalnum(): parts[i] = "\\ " + parts[i]             # `x`s: a literal inside a word
        if i + 1 < len(parts) and parts[i + 1][:1].isalnum(): parts[i + 1] = "\\ " + parts[i + 1]
    return "".join(parts)


def _docstring(app, what, name, obj, options, lines):
    lines[:] = [markdown_docstring(l) for l in lines]


def _with_language(text: str) -> str:
    "A notebook's JSON with `language_info` set (nbdev-clean strips it; the highlighter needs it)."
    nb = json.loads(text)
    nb.setdefault("metadata", {}).setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    return json.dumps(nb)


def _source_read(app, docname, source):
    if docname == "api": source[0] = api_page()
    elif app.env.doc2path(docname).suffix == ".ipynb": source[0] = _with_language(source[0])


def setup(app):
    app.connect("source-read", _source_read)
    app.connect("autodoc-process-docstring", _docstring)
