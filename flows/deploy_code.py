"""Deploy for workers on several machines: ``make deploy OUTREACH_CODE=git`` runs this module.

The workers share no folder with this checkout: each run clones the repository at the deployed
commit (prefect-team.yaml's pull step reads both from the server's variables). So this
records the checkout's commit (``git rev-parse HEAD``) and the repository's address
(``OUTREACH_GIT_REPOSITORY``, default the ``origin`` remote) as the variables
``outreach_commit`` and ``outreach_repository``, then deploys prefect-team.yaml.

It refuses, before changing anything on the server: uncommitted changes (the workers would not
see them), a repository address with a password in it (variables are readable by anyone with
the UI), and a commit the repository does not have (push it first).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from flows.bootstrap import BootstrapError, ensure_variable

REPOSITORY_VARIABLE = "outreach_repository"
COMMIT_VARIABLE = "outreach_commit"
TEAM_FILE = "prefect-team.yaml"


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


def deployed_code(folder: Path, environ: Mapping[str, str]) -> tuple[str, str]:
    """The (repository address, commit) the workers will clone; raises BootstrapError
    saying what to do when the checkout cannot be deployed as it is."""
    head = _git(folder, "rev-parse", "HEAD")
    if head.returncode != 0:
        raise BootstrapError(f"{folder} is not a git checkout: the workers clone a commit")
    commit = head.stdout.strip()
    dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
    if dirty.stdout.strip():
        changed = ", ".join(line[3:] for line in dirty.stdout.splitlines()[:5])
        raise BootstrapError(
            f"uncommitted changes ({changed}): the workers run the commit, not this folder; "
            "commit them (and push), then deploy again"
        )
    repository = environ.get("OUTREACH_GIT_REPOSITORY", "").strip()
    if not repository:
        origin = _git(folder, "remote", "get-url", "origin")
        repository = origin.stdout.strip()
    if not repository:
        raise BootstrapError(
            "no repository address: set OUTREACH_GIT_REPOSITORY to the address the workers "
            "clone from (or add an 'origin' remote)"
        )
    if "://" in repository and urlsplit(repository).password:
        raise BootstrapError(
            "OUTREACH_GIT_REPOSITORY holds a password (address not shown): the variable is "
            "readable in the Prefect UI; give the workers an SSH key or a git credential "
            "helper instead"
        )
    with tempfile.TemporaryDirectory() as empty:  # as a worker fetches it: from nothing
        _git(Path(empty), "init", "--quiet")
        fetched = _git(
            Path(empty), "fetch", "--quiet", "--depth=1", "--filter=blob:none", repository, commit
        )
    if fetched.returncode != 0:
        raise BootstrapError(
            f"commit {commit[:12]} is not in {repository} (git said: "
            f"{(fetched.stderr.strip().splitlines() or [''])[-1][-300:]}); push it, then deploy "
            "again"
        )
    return repository, commit


def deploy(
    folder: Path, environ: Mapping[str, str], say: Callable[[str], None] = print
) -> subprocess.CompletedProcess[str]:
    """Record the code to pull, then ``prefect deploy --all`` of prefect-team.yaml."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise BootstrapError(
            "PREFECT_API_URL is not set: export the team server's API address first"
        )
    repository, commit = deployed_code(folder, environ)
    for name, value in ((REPOSITORY_VARIABLE, repository), (COMMIT_VARIABLE, commit)):
        outcome, detail = ensure_variable(name, value)
        say(f"variable {name}: {outcome} ({detail})")
    prefect = str(Path(sys.executable).parent / "prefect")
    return subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", TEAM_FILE],
        cwd=folder,
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
    )


def main() -> int:
    try:
        done = deploy(Path.cwd(), os.environ)
    except BootstrapError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
