"""Start-up time of the `topo-r1` command: `topo-r1 --help`, `import topo_r1.cli`, and each `topo-r1 COMMAND --help`.

    python bench/cli_startup.py                         # median of 5 runs each, this checkout
    python bench/cli_startup.py --baseline main -n 7    # the same runs of the package as committed at REV, interleaved

Each run is a fresh process, timed from start to exit (Python's own start-up included: `python -c pass` is printed
as the floor). `topo-r1 --help` should answer in under 1 s: the command table imports no command module, each
command's module is imported when that command runs (`topo_r1.cli`). With `--baseline REV` the package as committed
at REV (unpacked with `git archive` into a temporary folder) runs the same commands, old and new alternating so that
the machine's load hits both alike. Prints one markdown table of medians in seconds.
"""
import argparse, os, shutil, statistics, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def topo_r1_command() -> list[str]:
    "The `topo-r1` console script if it is installed, else `python -m topo_r1.cli` (the same `main`)."
    exe = shutil.which("topo-r1")
    return [exe] if exe else [sys.executable, "-m", "topo_r1.cli"]


def commands(root: Path) -> list[str]:
    "The subcommands of the package under `root` (read from its `COMMANDS` table in a fresh process)."
    r = subprocess.run([sys.executable, "-c", "from topo_r1.cli import COMMANDS; print(' '.join(COMMANDS))"],
                       capture_output=True, text=True, env=_env(root), cwd=root, check=True)
    return r.stdout.split()


def _env(root: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(root)}


def timed(argv: list[str], root: Path) -> float:
    "Seconds one process takes from start to exit (it must succeed)."
    t = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=_env(root), cwd=root, check=True)   # cwd: `python -c` puts it first on sys.path
    return time.perf_counter() - t


def unpack(rev: str, into: Path) -> Path:
    "The `topo_r1` package as committed at `rev`, unpacked under `into`."
    archive = into / "src.tar"
    with archive.open("wb") as f: subprocess.run(["git", "-C", str(ROOT), "archive", rev, "topo_r1"], stdout=f, check=True)
    with tarfile.open(archive) as t: t.extractall(into, filter="data")
    return into


def cases(names: list[str]) -> dict[str, list[str]]:
    "What is timed: name -> argv."
    cli = topo_r1_command()
    out = {"python -c pass (floor)": [sys.executable, "-c", "pass"],
           "import topo_r1.cli": [sys.executable, "-c", "import topo_r1.cli"],
           "topo-r1 --help": [*cli, "--help"]}
    out.update({f"topo-r1 {c} --help": [*cli, c, "--help"] for c in names})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--runs", type=int, default=5, help="runs per case (the median is printed)")
    p.add_argument("--baseline", default=None, metavar="REV", help="also time the package as committed at REV")
    ns = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as d:
        roots = {"this checkout": ROOT}
        if ns.baseline: roots = {ns.baseline: unpack(ns.baseline, Path(d)), **roots}
        names = sorted(set.union(*(set(commands_cache(r)) for r in roots.values())))
        todo = cases(names)
        times = {(k, c): [] for k in roots for c in todo}
        for _ in range(ns.runs):               # interleaved: each round times every case of every package once
            for c, args in todo.items():
                for k, root in roots.items():
                    if c.startswith("topo-r1 ") and c.split()[1] not in ("--help", *commands_cache(root)): continue   # a newer command
                    times[k, c].append(timed(args, root))
    print(f"median of {ns.runs} runs, seconds, fresh process each ({os.cpu_count()} CPUs, python {sys.version.split()[0]})\n")
    print("| case | " + " | ".join(roots) + " |\n|---|" + "---|" * len(roots))
    for c in todo:
        cells = [f"{statistics.median(times[k, c]):.2f}" if times[k, c] else "–" for k in roots]
        print(f"| {c} | " + " | ".join(cells) + " |")
    return 0


_COMMANDS: dict = {}

def commands_cache(root: Path) -> list[str]:
    "`commands(root)`, read once per package."
    if root not in _COMMANDS: _COMMANDS[root] = commands(root)
    return _COMMANDS[root]


if __name__ == "__main__":
    sys.exit(main())
