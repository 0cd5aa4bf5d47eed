"""What the Verilator and Icarus back ends share to build a simulation: finding a tool,
the sources around the emitted RTL, the package's templates, and the build cache.

Builds are cached per key (a hash of everything that goes into them) under
``<build_dir>/<simulator>/``, by default ``$XDG_CACHE_HOME/rpu/<simulator>`` or
``~/.cache/rpu/<simulator>``; the :data:`CACHE_KEEP` most recently used builds are kept.
"""

import fcntl
import hashlib
import os
import shutil
import string
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pim.sram import SRAM_MODEL_VERILOG
from rpu.sim.interface import interface, rpu_verilog, wrapper_verilog


__all__ = ["SimulatorNotFound", "BuildError", "Tool", "tool_version", "template",
           "render", "sources", "cache_root", "is_cached", "cached_build", "cache_key",
           "log_tail", "CACHE_KEEP"]


class SimulatorNotFound(RuntimeError):
    """The requested HDL simulator is not installed."""


class BuildError(RuntimeError):
    """Compiling the Verilog (or the Verilator harness) failed."""


@dataclass(frozen=True)
class Tool:
    executable: str
    env: tuple          # (name, value) environment variables the tool needs
    version: str
    make_flags: tuple = ()      # Verilator: make variables its build needs

    def environ(self):
        return {**os.environ, **dict(self.env)}


def tool_version(command, env):
    """What ``command`` (e.g. ``[exe, "--version"]``) prints, or None if it fails."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                             env={**os.environ, **dict(env)})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout + out.stderr).strip() if out.returncode == 0 else None


# Templates ---------------------------------------------------------------------------------

class _Template(string.Template):
    # Verilog's system tasks start with "$": the templates write @{name} instead.
    delimiter = "@"


def template(name):
    """The text of ``rpu/sim/templates/<name>`` (package data)."""
    return resources.files("rpu.sim").joinpath("templates", name).read_text()


def render(name, **values):
    """Template ``name`` with every ``@{key}`` replaced by ``values[key]`` (all required)."""
    return _Template(template(name)).substitute(
        {key: str(value) for key, value in values.items()})


# Sources -----------------------------------------------------------------------------------

def sources(config):
    """The interface of ``config``'s RPU and the Verilog files every simulation compiles:
    ``{file name: text}`` of ``rpu.v``, ``rpu_sram.v`` and ``rpu_wrap.v``."""
    rtl = rpu_verilog(config)
    iface = interface(config, rtl)
    return iface, {"rpu.v": rtl, "rpu_sram.v": SRAM_MODEL_VERILOG,
                   "rpu_wrap.v": wrapper_verilog(iface)}


# The build cache ---------------------------------------------------------------------------

#: Builds kept per simulator in the cache (the least recently used go first).
CACHE_KEEP = 16


def cache_root(build_dir, name):
    """The cache folder of ``name`` (a simulator, or a part shared by its builds)."""
    if build_dir is not None:
        return Path(build_dir) / name
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rpu" / name


def log_tail(path, lines=40):
    """The last ``lines`` lines of a build log."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _prune(root, keep):
    builds = []
    for ok in root.glob("*/ok"):
        try:
            builds.append((ok.stat().st_mtime, ok.parent))
        except OSError:
            pass
    for _, directory in sorted(builds, reverse=True)[keep:]:
        shutil.rmtree(directory, ignore_errors=True)
        try:
            (root / f"{directory.name}.lock").unlink()
        except OSError:
            pass


def is_cached(root, key):
    """Whether the build ``key`` under ``root`` is finished."""
    return (Path(root) / key / "ok").is_file()


def cached_build(root, key, build, *, keep=CACHE_KEEP):
    """Run ``build(directory)`` once per key under ``root`` (a lock file serialises
    concurrent builders of one key); returns the finished build's directory."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if (final / "ok").is_file():
        try:
            os.utime(final / "ok")          # recently used: see _prune
        except OSError:
            pass
        return final
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (final / "ok").is_file():
                return final
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=root))
            try:
                build(staging)
                (staging / "ok").write_text("")
                if final.exists():
                    shutil.rmtree(final)
                os.replace(staging, final)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _prune(root, keep)
    return final


def cache_key(*parts):
    """A short hash of ``parts`` (str or bytes), each length-prefixed."""
    digest = hashlib.sha256()
    for part in parts:
        data_ = part.encode() if isinstance(part, str) else part
        digest.update(len(data_).to_bytes(8, "little"))
        digest.update(data_)
    return digest.hexdigest()[:24]
