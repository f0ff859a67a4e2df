"""Version directories of an export: which versions exist, and the number of the next one.

TF Serving watches `<export_dir>/` and loads numeric subdirectories; the highest number is
the newest. Temporary directories start with a dot, so neither TF Serving nor these helpers
ever see a version that is still being written.
"""
from __future__ import annotations

import os
import time


def next_version(export_dir: str) -> int:
    """Seconds since the epoch, or one more than the newest existing version."""
    return max([int(time.time()), *(version + 1 for version in list_versions(export_dir))])


def list_versions(export_dir: str) -> list[int]:
    """Complete versions under `export_dir`, oldest first (temporary directories are hidden)."""
    names = os.listdir(export_dir) if os.path.isdir(export_dir) else []
    return sorted(int(name) for name in names if name.isdigit())


def latest_version_dir(export_dir: str) -> str:
    """The newest version's directory; an export dir without versions is an error naming it."""
    versions = list_versions(export_dir)
    if not versions:
        raise FileNotFoundError(f"{export_dir}: no export versions (numeric subdirectories)")
    return os.path.join(export_dir, str(versions[-1]))


def source_version_dir(export_dir: str, version: int | None = None) -> str:
    """The directory of `version` under `export_dir`, or of the newest version when None."""
    if version is None:
        return latest_version_dir(export_dir)
    version_dir = os.path.join(export_dir, str(version))
    if not os.path.isdir(version_dir):
        raise FileNotFoundError(f"{export_dir}: no version {version}; it has {list_versions(export_dir)}")
    return version_dir
