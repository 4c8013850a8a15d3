"The course in nbs/tutorials/: committed executed, with figures, no failed cell, a goal, a measured time and checked exercises."
import re
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "nbs" / "tutorials").glob("*.ipynb"))
MAX_BYTES = 2_000_000
TIME_LINE = re.compile(r"\*\*Time:\*\*[^\n]*\d+\s*(s|min)\b")


def test_the_course_is_numbered():
    assert TUTORIALS, "no tutorials found"
    for p in TUTORIALS: assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name), f"{p.name}: tutorials are named NN_topic.ipynb"
    nums = [int(p.name[:2]) for p in TUTORIALS]
    assert len(set(nums)) == len(nums), f"two tutorials share a number: {nums}"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_is_committed_executed(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with failed cells: {errors}"
    assert outputs, f"{path.name} has no outputs: execute it and commit the outputs (nbdev-clean keeps them)"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} has no figure"
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB (keep figures at modest dpi)"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_states_goal_and_measured_time(path):
    nb = nbformat.read(path, as_version=4)
    top = "\n".join(c.source for c in nb.cells[:3] if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{path.name}: starts with a title"
    assert "**Goal:**" in top, f"{path.name}: state the goal at the top (**Goal:** ...)"
    assert TIME_LINE.search(top), f"{path.name}: write the measured run time at the top (**Time:** ... N s / N min)"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_ends_with_checked_exercises(path):
    nb = nbformat.read(path, as_version=4)
    at = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(r"^#+ Exercises", c.source, re.M)]
    assert at, f"{path.name}: end with an '## Exercises' section"
    checks = [c for c in nb.cells[at[-1]:] if c.cell_type == "code" and "test_eq(" in c.source]
    assert checks, f"{path.name}: check the exercises' answers in a cell (test_eq against a computed value)"
