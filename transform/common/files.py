"""Write-then-rename helpers: a reader never sees a half-written file or directory."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_directory(final_dir: str) -> Iterator[str]:
    """Yields a fresh temporary directory beside `final_dir`; renames it into place on success.

    An existing `final_dir` is replaced only once the new one is complete; on an exception
    the temporary directory is removed and `final_dir` is left as it was. The temporary name
    starts with a dot, so TF Serving (which loads numeric directory names only) ignores it.
    """
    parent = os.path.dirname(os.path.abspath(final_dir))
    os.makedirs(parent, exist_ok=True)
    tmp_dir = os.path.join(parent, f".{os.path.basename(final_dir)}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp_dir)
    try:
        yield tmp_dir
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    replace_directory(tmp_dir, final_dir)


def replace_directory(new_dir: str, final_dir: str) -> None:
    """Moves `new_dir` to `final_dir`, replacing any previous `final_dir` only after the move."""
    if not os.path.exists(final_dir):
        os.rename(new_dir, final_dir)
        return
    old_dir = f"{new_dir}.old"
    os.rename(final_dir, old_dir)
    os.rename(new_dir, final_dir)
    shutil.rmtree(old_dir)


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path`; renames it onto `path` once the block succeeds.

    The temporary name keeps every suffix of `path`'s name (`.png`, `.weights.h5`: writers
    that infer the format from it still choose the same one) and starts with a dot; on an
    exception it is removed and `path` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, dot, suffixes = os.path.basename(path).partition(".")
    tmp_path = os.path.join(directory, f".{stem}.tmp-{uuid.uuid4().hex[:8]}{dot}{suffixes}")
    try:
        yield tmp_path
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    os.replace(tmp_path, path)


def write_text(text: str, path: str) -> None:
    """Writes `text` to `path` atomically."""
    with atomic_file(path) as tmp_path, open(tmp_path, "w") as handle:
        handle.write(text)


def write_json(payload: Any, path: str) -> None:
    """Writes `payload` as indented JSON to `path` atomically."""
    write_text(json.dumps(payload, indent=2, default=str) + "\n", path)
