"""What made an output: the package version and, from a source checkout, the git commit.

Every run's resolved configuration, every export's model card and every benchmark JSON carry
`provenance()`, so that a figure or a model found later can be traced to the code that made
it, and a stale one told from a fresh one. An installed package (no checkout beside it) has
no commit to report: `commit` and `dirty` are then None.
"""
from __future__ import annotations

import functools
import os
import subprocess

from transform.version import __version__

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Changes here do not change what the code computes: the benchmark suite rewrites its results
# and the docs while it runs, and that must not mark the benches after it as dirty.
NOT_CODE = (":(exclude)bench/results", ":(exclude)docs", ":(exclude)*.md")


def package_version() -> str:
    return __version__


@functools.lru_cache(maxsize=1)
def source_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout the package runs from; (None, None) outside a git checkout."""
    return checkout_commit(SOURCE_ROOT)


def checkout_commit(root: str) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty) of the git checkout at `root`; (None, None) if `root` is not one.

    dirty: tracked files that hold code differ from the commit (NOT_CODE paths aside).
    """
    if not os.path.exists(os.path.join(root, ".git")):
        return None, None
    try:
        commit = _git(root, "rev-parse", "HEAD")
        changes = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE)
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(changes)


def code_differs(root: str, commit: str) -> bool:
    """Whether the code at `commit` differs from the HEAD of the checkout at `root` (NOT_CODE paths
    aside); True as well when the checkout does not know `commit`."""
    try:
        result = subprocess.run(["git", "-C", root, "diff", "--quiet", commit, "HEAD", "--", ".", *NOT_CODE],
                                capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return result.returncode != 0


def provenance() -> dict:
    """{"package_version", "commit", "dirty"}: what every output records about the code that made it."""
    commit, dirty = source_commit()
    return {"package_version": package_version(), "commit": commit, "dirty": dirty}


def _git(root: str, *args: str) -> str:
    return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()
