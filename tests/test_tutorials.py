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
    checks = [c for c in nb.cells[at[-1]:] if c.cell_type == "code" and re.search(r"\b(test_eq|test_close)\(", c.source)]
    assert checks, f"{path.name}: check the exercises' answers in a cell (test_eq / test_close)"


# --- the exercises, run alone -------------------------------------------------------------------------------------
MAX_TEXT_LINES = 150


def _is_solution(cell) -> bool: return "solution" in cell.get("metadata", {}).get("tags", [])


def exercise_cells(nb) -> list:
    "The code cells of the last `## Exercises` section, in order."
    at = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(r"^## Exercises", c.source, re.M)]
    assert at, "no '## Exercises' section"
    return [c for c in nb.cells[at[-1]:] if c.cell_type == "code"]


def run_exercises(path, with_solutions: bool) -> list:
    "Execute the Exercises section of `path` alone, in a fresh namespace: one `(check source, exception or None)` per check."
    cells = exercise_cells(nbformat.read(path, as_version=4))
    checks = {id(cells[i + 1]) for i, c in enumerate(cells[:-1]) if _is_solution(c)}   # a check follows each solution
    ns, out = {"__name__": "__exercises__"}, []
    import matplotlib; matplotlib.use("Agg")
    for c in cells:
        if _is_solution(c) and not with_solutions: continue
        src = "\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
        if id(c) not in checks:
            exec(compile(src, f"<{path.name} exercises>", "exec"), ns)   # setup and student cells must run either way
            continue
        try: exec(compile(src, f"<{path.name} check>", "exec"), ns); out.append((c.source, None))
        except Exception as e: out.append((c.source, e))
    return out


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_exercises_follow_the_pattern(path):
    "Setup cell first, then per exercise: a student cell with `...`, a collapsed `solution` cell, a check cell."
    cells = exercise_cells(nbformat.read(path, as_version=4))
    sols = [i for i, c in enumerate(cells) if _is_solution(c)]
    assert cells and not _is_solution(cells[0]), f"{path.name}: the section starts with a setup cell"
    assert sols, f"{path.name}: no cell tagged `solution` in the Exercises section"
    for i in sols:
        assert cells[i].metadata.get("jupyter", {}).get("source_hidden"), f"{path.name}: solution cells are collapsed"
        assert "..." in cells[i - 1].source, f"{path.name}: the cell before a solution leaves the student's part open (`...`)"
        assert i + 1 < len(cells) and not _is_solution(cells[i + 1]), f"{path.name}: a check cell follows each solution"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_exercises_pass_with_solutions_and_fail_without(path):
    ok = run_exercises(path, with_solutions=True)
    bad = [(s, e) for s, e in ok if e is not None]
    assert not bad, f"{path.name}: checks fail with the solutions: " + "; ".join(f"{s[:60]!r}: {e!r}" for s, e in bad)
    open_ = run_exercises(path, with_solutions=False)
    passed = [s for s, e in open_ if e is None]
    assert not passed, f"{path.name}: these checks pass with the student's part left open: {[s[:60] for s in passed]}"


def text_lines(nb) -> int:
    "Lines of text a notebook prints: streams and plain-text results."
    n = 0
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o.output_type == "stream": n += len(o.text.splitlines())
            elif o.output_type in ("execute_result", "display_data") and set(o.get("data", {})) == {"text/plain"}:
                n += len(o.data["text/plain"].splitlines())
    return n


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_is_quiet(path):
    "No stderr output (warnings, log lines) and at most 150 lines of text."
    nb = nbformat.read(path, as_version=4)
    err = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
           for o in c.get("outputs", []) if o.output_type == "stream" and o.name == "stderr"]
    assert not err, f"{path.name}: stderr output in cells {err}"
    n = text_lines(nb)
    assert n <= MAX_TEXT_LINES, f"{path.name} prints {n} lines of text (at most {MAX_TEXT_LINES})"
