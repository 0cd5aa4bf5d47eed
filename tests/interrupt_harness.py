"""Run a writer of :mod:`rpu.files` in a child process whose file-system calls are counted,
slowed, or interrupted by SIGINT or SIGKILL at the k-th call, without strace.

Shared by tests/test_interrupt.py, tests/test_concurrency.py and tests/test_files.py. The
child (``python -c CHILD spec.json``) wraps ``os.replace``, ``os.rename``, ``os.symlink``,
``os.link``, ``os.unlink``, ``os.remove``, ``os.rmdir`` and ``os.mkdir``; only calls on paths
under ``root`` count (a call relative to a ``dir_fd``, as in ``shutil.rmtree``, is resolved
through /proc/self/fd). At call ``kill_at`` it sends itself the signal, before the real call
(or after it with ``after=True``).
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


CHILD = r'''
import json, os, shutil, signal, sys, time

spec = json.load(open(sys.argv[1]))
root = spec["root"]
kill_at, after = spec.get("kill_at"), spec.get("after", False)
kill_signal = getattr(signal, spec["signal"]) if spec.get("signal") else None
delay = spec.get("delay", 0.0)
calls = []


def under_root(args, kwargs):
    dir_fd = kwargs.get("dir_fd", kwargs.get("src_dir_fd"))
    for arg in args[:2]:
        if isinstance(arg, int):
            continue
        path = os.fsdecode(arg)
        if dir_fd is not None and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        path = os.path.abspath(path)
        if path == root or path.startswith(root + os.sep):
            return True
    return False


def wrap(name):
    real = getattr(os, name)

    def wrapper(*args, **kwargs):
        if not under_root(args, kwargs):
            return real(*args, **kwargs)
        calls.append([name] + [os.fsdecode(arg) for arg in args[:2]
                               if not isinstance(arg, int)])
        if delay:
            time.sleep(delay)
        if len(calls) == kill_at and not after:
            os.kill(os.getpid(), kill_signal)
        result = real(*args, **kwargs)
        if len(calls) == kill_at and after:
            os.kill(os.getpid(), kill_signal)
        return result
    setattr(os, name, wrapper)


for name in ("replace", "rename", "symlink", "link", "unlink", "remove", "rmdir", "mkdir"):
    wrap(name)

try:
    kind = spec["kind"]
    if kind == "files":
        from rpu.files import write_files_atomically
        write_files_atomically(spec["out"], {
            name: bytes.fromhex(value[1]) if value[0] == "hex" else value[1]
            for name, value in spec["files"].items()})
    elif kind == "npz":
        import numpy as np
        from rpu.files import write_npz_atomically
        write_npz_atomically(spec["path"], **{name: np.array(value)
                                              for name, value in spec["arrays"].items()})
    elif kind == "cli":
        import runpy
        sys.argv = ["python -m rpu", *spec["argv"]]
        runpy.run_module("rpu", run_name="__main__", alter_sys=True)
    else:
        raise ValueError(kind)
finally:
    if spec.get("log"):
        with open(spec["log"], "w") as file:
            json.dump(calls, file)
'''


def encode_files(files):
    """``{name: str or bytes}`` as JSON for the child."""
    return {name: ["hex", value.hex()] if isinstance(value, bytes) else ["text", value]
            for name, value in files.items()}


def writer_spec(kind, root, **spec):
    """The child's spec: ``kind`` "files" (``out``, ``files``), "npz" (``path``,
    ``arrays``) or "cli" (``argv`` of ``python -m rpu``); ``root`` bounds the counted
    calls."""
    spec = dict(spec, kind=kind, root=os.path.abspath(root))
    if kind == "files":
        spec["files"] = encode_files(spec["files"])
        spec["out"] = str(spec["out"])
    if kind == "npz":
        spec["path"] = str(spec["path"])
    return spec


def start_writer(spec, spec_path, *, kill_at=None, kill_signal=None, after=False, delay=0.0,
                 log_path=None):
    """Start the child; returns the ``subprocess.Popen``."""
    spec = dict(spec, kill_at=kill_at, after=after, delay=delay,
                signal=kill_signal.name if kill_signal is not None else None,
                log=str(log_path) if log_path else None)
    Path(spec_path).write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(spec_path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_writer(spec, work, *, timeout=600, **options):
    """Run the child to its end in the scratch folder ``work``; returns ``(returncode,
    stderr, calls)`` with ``calls`` the counted calls (None if the child was killed)."""
    work = Path(work)
    log_path = work / "calls.json"
    if log_path.exists():
        log_path.unlink()
    process = start_writer(spec, work / "spec.json", log_path=log_path, **options)
    _, stderr = process.communicate(timeout=timeout)
    calls = json.loads(log_path.read_text()) if log_path.exists() else None
    return process.returncode, stderr, calls


# ---------------------------------------------------------------------------------------
# What a folder shows
# ---------------------------------------------------------------------------------------

STORE = ".rpu"


def visible(out_dir):
    """``{name: bytes}`` of what readers see: the files (or links to files) of ``out_dir``
    whose names do not start with a dot; None if the folder does not exist."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return None
    return {path.name: path.read_bytes() for path in sorted(out_dir.iterdir())
            if not path.name.startswith(".") and path.is_file()}


def residue(out_dir):
    """Everything in ``out_dir`` beyond its visible files and the store's ``lock``,
    ``current`` and current version, and any file of that version that no name shows:
    the empty list for a tidy folder."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return []
    shown = visible(out_dir)
    extra = sorted(name for name in os.listdir(out_dir) if name not in shown and name != STORE)
    store = out_dir / STORE
    if not store.exists():
        return extra
    current = os.readlink(store / "current") if os.path.islink(store / "current") else None
    extra += sorted(f"{STORE}/{name}" for name in os.listdir(store)
                    if name not in ("lock", "current", current))
    if current is None:
        extra.append(f"{STORE}/current (missing)")
        return extra
    for name in os.listdir(store / current):
        link = os.readlink(out_dir / name) if os.path.islink(out_dir / name) else None
        if link != f"{STORE}/current/{name}":
            extra.append(f"{STORE}/{current}/{name} (shown by no name)")
    for name in shown:
        path = out_dir / name
        if path.is_symlink():
            assert os.readlink(path) == f"{STORE}/current/{name}", (name, os.readlink(path))
    return extra
