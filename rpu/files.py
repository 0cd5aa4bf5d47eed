"""Writing output files completely or not at all.

Every command that writes files (``generate``, ``synth``, ``explore``, ``simulate``, ``run``,
model export) goes through these two functions, so that an error never leaves half-written
output behind. numpy only: :mod:`rpu.model_import` uses it without importing Amaranth.
"""

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


__all__ = ["write_files_atomically", "write_npz_atomically", "check_out_dir"]


def check_out_dir(out_dir):
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory {str(out_dir)!r} exists and is not a directory")
    return out_dir


def write_files_atomically(out_dir, files):
    """Write ``{name: text}`` into ``out_dir``: all of them, or none if anything fails."""
    out_dir = check_out_dir(out_dir)
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rpu-", dir=parent))
    new, old = staging / "new", staging / "old"
    created = not out_dir.exists()
    moved = []
    try:
        new.mkdir()
        old.mkdir()
        for name, text in files.items():
            mode = "wb" if isinstance(text, bytes) else "w"
            with open(new / name, mode) as file:
                file.write(text)
        out_dir.mkdir(exist_ok=True)
        for name in files:
            # Keep the previous file, to put it back if a later one cannot be moved in.
            if (out_dir / name).is_file():
                os.replace(out_dir / name, old / name)
            moved.append(name)
            os.replace(new / name, out_dir / name)
    except BaseException:
        for name in moved:
            if (out_dir / name).is_file():
                (out_dir / name).unlink()
            if (old / name).exists():
                os.replace(old / name, out_dir / name)
        if created:
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_npz_atomically(path, **arrays):
    """Write ``arrays`` as the .npz file ``path``, completely or not at all: written to a
    temporary file in the same directory, then renamed over ``path``."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=".rpu-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(buffer.getvalue())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
