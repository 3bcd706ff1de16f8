"""How long the ``outreach`` command takes on embedded defaults (no Prefect server).

The median wall time of 5 runs each of ``outreach check`` and ``outreach release ID
--dry-run`` (one sample finding, every configured channel) in a copy of the repository's
sample project, with PREFECT_API_URL unset: what a comms person waits for at the keyboard.
The goal is under 3 s. The time the process needs before any work (Python, the CLI and the
core imported) is printed too, as ``outreach --help``.

Run with `make bench` (or `python -m bench.cli_start`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 5
FINDING = "farm-gate-to-fob"
GOAL_SECONDS = 3.0
COMMANDS = {
    "outreach --help": ["--help"],
    "outreach check": ["check"],
    f"outreach release {FINDING} --dry-run": ["release", FINDING, "--dry-run"],
}


def sample_project(root: Path) -> Path:
    for name in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "outreach.toml", root / "outreach.toml")
    return root


def wall_time(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "outreach_cli", *args], cwd=cwd, env=env, capture_output=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"outreach {' '.join(args)} failed:\n{done.stderr.decode()}")
    return elapsed


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PYTHONPATH": str(REPO), "COLUMNS": "120"}
    with tempfile.TemporaryDirectory(prefix="outreach-cli-bench-") as folder:
        project = sample_project(Path(folder))
        env["PREFECT_HOME"] = str(project / ".prefect")
        wall_time(["check"], project, env)  # warm the file cache and the bytecode
        print(f"CLI start-up on embedded defaults (median of {RUNS} runs, wall time)")
        for label, args in COMMANDS.items():
            median = statistics.median(wall_time(args, project, env) for _ in range(RUNS))
            verdict = "ok" if median < GOAL_SECONDS else f"over the {GOAL_SECONDS:.0f} s goal"
            print(f"  {label:<45} {median:5.2f} s  {verdict}")


if __name__ == "__main__":
    main()
