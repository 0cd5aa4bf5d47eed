"""Writing output files: a complete, consistent set, or the previous one.

Every command that writes files (``generate``, ``synth``, ``explore``, ``simulate``, ``run``,
model export) goes through this module. Standard library only (numpy is imported by
:func:`write_npz_atomically` when called): :mod:`rpu.frontend` uses it without Amaranth.

A set of files: :func:`write_files_atomically`
----------------------------------------------
``write_files_atomically(out_dir, {name: text_or_bytes})`` switches the files of
``out_dir`` from the previous set to the new one in one atomic step. The folder looks like
this (``rpu.v`` and ``rpu.json`` are examples)::

    out_dir/
        rpu.v    -> .rpu/current/rpu.v          (relative symbolic links, made once)
        rpu.json -> .rpu/current/rpu.json
        .rpu/                                   (the hidden store)
            lock                                (flock: one writer at a time)
            current -> v-<id>                   (the one switch)
            v-<id>/rpu.v, v-<id>/rpu.json       (the current, complete set)

A run, holding an exclusive ``fcntl.flock`` on ``.rpu/lock``:

1. removes what killed runs left in the store (everything but ``lock``, ``current`` and the
   version it names) and the links of ``out_dir`` that point at no file of the current
   version;
2. writes the new set into a fresh ``.rpu/v-<id>/`` and fsyncs it;
3. makes the link ``out_dir/NAME`` for every new name that has none (a link to a name the
   current version lacks shows nothing, so this changes no visible file);
4. **switches**: ``os.replace`` of a freshly made link over ``.rpu/current``. Every
   name now shows the new set; the names the new set lacks show nothing (dangling link);
5. removes the previous version and the dangling links.

Staging happens under the lock too: the contents are in memory and written in
milliseconds, so a version being staged can never be taken for a killed run's leftover
by another run, and no lock per version is needed. Why links at all: a lock alone cannot
stop SIGKILL between two renames, and a run id stamped in every file leaves the check to
every reader (Yosys, simulators, people); one link switched by one rename needs neither.

Guarantees
    * Readers of ``out_dir/NAME`` see either the complete previous set or the complete new
      one: one ``rename(2)`` switches all of them. A reader that opens several files while
      a run switches can of course get some before and some after the switch; for a
      snapshot, re-read until two reads agree (or read ``.rpu/current`` before and after).
    * An error, a full disk or Ctrl-C (SIGINT) before the switch leaves the previous set
      and nothing else; SIGINT is held back while the files are written (a second SIGINT
      stops at once, like SIGKILL), then re-raised: Ctrl-C before the switch cancels it,
      after it the run finishes tidying first. A first write that fails leaves no folder.
    * SIGKILL or a crash at any point leaves the previous set or the new set, complete,
      plus at most a staging version in the store and dangling links, which the next write
      into the folder removes. The flock is released by the kernel when a process dies.
    * Two runs into one folder never mix: the flock serialises them; the folder ends with
      the complete set of the run that switched last.
    * Everything is staged inside ``out_dir`` (no temporary file in its parent), so a
      writable folder under a read-only parent works; :func:`check_out_dir` checks that
      the folder can be written (or created) before any work is done.

The new set *replaces* the previous one: a name that only the previous set had disappears
(its dangling link is removed). Files in ``out_dir`` that are not links into the store
(e.g. a user's notes) are never touched, except a regular file (or a foreign symbolic link)
under one of the new names: such files come from writers before the store existed. They
are adopted first, one by one, without changing what any name shows: the file's content is
copied into the current version (created if there is none) and the file is replaced by a
link to it; then the new set is switched in as above. A directory under a new name is an
error raised before anything changes.

Caveats: ``flock`` does not lock across NFS clients on every system; ``cp -r``/``tar``
keep the relative links and the store and work on the copy, tools that follow links (zip,
``scp -r``) copy the contents.

One file: :func:`write_file_atomically`, :func:`write_npz_atomically`
---------------------------------------------------------------------
The file is written to a hidden temporary file ``.rpu-tmp-<id>`` in the same folder
(flock-ed while alive), fsynced and renamed over the target. An error or SIGINT removes
the temporary file; SIGKILL can leave it, and the next single-file write into that folder
removes every ``.rpu-tmp-*`` whose writer is gone (its flock is free).
"""

import errno
import fcntl
import io
import os
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path


__all__ = ["write_files_atomically", "write_npz_atomically", "write_file_atomically",
           "check_out_dir", "STORE"]

#: The hidden store of complete versions inside an output folder.
STORE = ".rpu"
_LOCK = "lock"
_CURRENT = "current"
_VERSION = "v-"
_STORE_TEMP = "tmp-"
#: Prefix of the temporary file of a single-file write.
_FILE_TEMP = ".rpu-tmp-"
_LOCK_POLL_S = 0.02


class _Cancelled(Exception):
    """A SIGINT arrived before the switch: roll back, then let the interrupt through."""


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------

def check_out_dir(out_dir):
    """Check that ``out_dir`` is a directory that can be written, or can be created.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ValueError
        ``out_dir`` (or an existing ancestor) is not a directory, or the folder (or the
        nearest existing ancestor, if the folder does not exist yet, or its store
        ``.rpu``) is not writable.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory {str(out_dir)!r} exists and is not a directory")
    if os.path.islink(out_dir) and not out_dir.exists():
        raise ValueError(f"output directory {str(out_dir)!r} is a broken symbolic link")
    existing = Path(os.path.abspath(out_dir))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"output directory {str(out_dir)!r} cannot be created: "
                         f"{str(existing)!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == Path(os.path.abspath(out_dir)):
            raise ValueError(f"output directory {str(out_dir)!r} is not writable")
        raise ValueError(f"output directory {str(out_dir)!r} cannot be created: "
                         f"{str(existing)!r} is not writable")
    store = out_dir / STORE
    if store.is_dir() and not os.access(store, os.W_OK | os.X_OK):
        raise ValueError(f"output directory {str(out_dir)!r}: its store {str(store)!r} "
                         "is not writable")
    return out_dir


def _check_names(files):
    for name in files:
        if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name
                or "\0" in name or (os.altsep and os.altsep in name)
                or name == STORE or name.startswith(".rpu-")):
            raise ValueError(f"output file name {name!r}: must be a plain file name, not "
                             f"{STORE!r} or '.rpu-*'")


def _as_bytes(name, value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"contents of {name!r} must be str or bytes, not {type(value).__name__}")


# ---------------------------------------------------------------------------------------
# SIGINT held back while files switch
# ---------------------------------------------------------------------------------------

class _HeldInterrupt:
    """Hold back SIGINT (main thread only): ``received`` tells whether one came. On exit the
    previous handler is restored and a held SIGINT delivered to it (``KeyboardInterrupt``
    with Python's default handler). A second SIGINT is delivered at once."""

    def __init__(self):
        self.received = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not None:        # None: a handler not installed from Python
                signal.signal(signal.SIGINT, self._handle)
                self._previous = previous
        return self

    def _handle(self, signum, frame):
        if self.received:
            raise KeyboardInterrupt
        self.received = True

    def __exit__(self, kind, value, traceback):
        previous, self._previous = self._previous, None
        if previous is None:
            return False
        signal.signal(signal.SIGINT, previous)
        if self.received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)
        return False


# ---------------------------------------------------------------------------------------
# Small file-system steps
# ---------------------------------------------------------------------------------------

def _token():
    return f"{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}"


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path):
    """Remove a file, link or directory tree; gone already is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _link_target(name):
    return f"{STORE}/{_CURRENT}/{name}"


def _is_ours(out_dir, name):
    """Whether ``out_dir/name`` is the link into the store that this module makes."""
    try:
        return os.readlink(out_dir / name) == _link_target(name)
    except OSError:
        return False


def _place_link(store, destination, target):
    """Put a link ``destination -> target`` in place with one ``os.replace``: made under a
    temporary name in the store first, so that nothing half-made is ever visible."""
    temporary = store / f"{_STORE_TEMP}{_token()}"
    os.symlink(target, temporary)
    try:
        os.replace(temporary, destination)
    except BaseException:
        _remove(temporary)
        raise


def _current_version(store):
    """The name of the current version, or None (a broken ``current`` is removed)."""
    try:
        target = os.readlink(store / _CURRENT)
    except FileNotFoundError:
        return None
    except OSError:                         # not a link: not ours to trust
        _remove(store / _CURRENT)
        return None
    if (target.startswith(_VERSION) and "/" not in target
            and (store / target).is_dir() and not (store / target).is_symlink()):
        return target
    _remove(store / _CURRENT)
    return None


def _tidy(out_dir, store):
    """Remove what is neither the lock, ``current``, nor the current version, and the links
    of ``out_dir`` that show no file of the current version."""
    current = _current_version(store)
    for entry in os.listdir(store):
        if entry not in (_LOCK, _CURRENT, current):
            _remove(store / entry)
    for name in os.listdir(out_dir):
        if _is_ours(out_dir, name) and (
                current is None or not os.path.isfile(store / current / name)):
            _remove(out_dir / name)
    return current


# ---------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------

def _lock_store(out_dir, store, interrupt):
    """Open and flock ``store/lock`` (creating the folders), polling so that a held SIGINT
    cancels the wait. Returns the locked file descriptor."""
    for _ in range(1000):
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            store.mkdir()
        except FileExistsError:
            if not store.is_dir() or store.is_symlink():
                raise FileExistsError(errno.EEXIST, f"{STORE!r} is in the way of the output "
                                                    "store", str(store)) from None
        except FileNotFoundError:           # out_dir removed meanwhile by a failed run
            continue
        try:
            fd = os.open(store / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            continue
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if interrupt.received:
                        raise _Cancelled from None
                    time.sleep(_LOCK_POLL_S)
            # A failed first run removes the store, lock included: lock the live file.
            try:
                if os.path.samestat(os.fstat(fd), os.stat(store / _LOCK)):
                    return fd
            except FileNotFoundError:
                pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(f"cannot lock {str(store / _LOCK)!r}")


# ---------------------------------------------------------------------------------------
# A set of files
# ---------------------------------------------------------------------------------------

def write_files_atomically(out_dir, files):
    """Write ``{name: text or bytes}`` into ``out_dir`` as one set, in one atomic step.

    The folder shows the complete previous set until the switch and the complete new set
    after it, whatever happens (an exception, SIGINT, SIGKILL, a concurrent run): see the
    module documentation. Text is written as UTF-8.

    Raises
    ------
    ValueError
        ``out_dir`` is not a writable directory, or a name is not a plain file name.
    TypeError
        A content is neither str nor bytes. Nothing is written.
    OSError
        The files cannot be written (e.g. a directory is in the way of one of them); the
        previous set is kept.
    """
    out_dir = check_out_dir(out_dir)
    _check_names(files)
    contents = {name: _as_bytes(name, value) for name, value in files.items()}
    out_dir = Path(os.path.abspath(out_dir))
    store = out_dir / STORE
    created = not out_dir.exists()
    with _HeldInterrupt() as interrupt:
        try:
            fd = _lock_store(out_dir, store, interrupt)
        except BaseException as error:
            _remove_if_empty(store)
            if created:
                _remove_if_empty(out_dir)
            if isinstance(error, _Cancelled):
                return
            raise
        try:
            _switch(out_dir, store, contents, interrupt, created)
        except _Cancelled:
            pass                            # rolled back; the held SIGINT follows
        finally:
            os.close(fd)


def _remove_if_empty(directory):
    try:
        directory.rmdir()
    except OSError:
        pass


def _plan(out_dir, contents):
    """``{name: "ours" | "absent" | "adopt"}``; raises before anything changes if a
    directory is in the way."""
    plan = {}
    for name in contents:
        path = out_dir / name
        if _is_ours(out_dir, name):
            plan[name] = "ours"
        elif not os.path.lexists(path):
            plan[name] = "absent"
        elif path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way of an output "
                                                  "file", str(path))
        else:
            plan[name] = "adopt"
    return plan


def _adopt(out_dir, store, current, name):
    """Replace the regular file (or foreign link) ``out_dir/name`` by a link to a copy of
    its content in the current version: the name shows the same bytes before and after."""
    source = out_dir / name
    copy = store / f"{_STORE_TEMP}{_token()}"
    try:
        if os.path.isfile(source):
            shutil.copyfile(source, copy)
            fd = os.open(copy, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(copy, store / current / name)
        else:                               # a dangling foreign link: it shows nothing
            _remove(store / current / name)
        _fsync_dir(store / current)
    except BaseException:
        _remove(copy)
        raise
    _place_link(store, source, _link_target(name))


def _switch(out_dir, store, contents, interrupt, created):
    made = []                               # links that showed nothing before this run
    version = None
    try:
        current = _tidy(out_dir, store)
        plan = _plan(out_dir, contents)
        version = store / f"{_VERSION}{_token()}"
        version.mkdir()
        for name, data in contents.items():
            _write_synced(version / name, data)
        _fsync_dir(version)
        adopt = [name for name in contents if plan[name] == "adopt"]
        if adopt and current is None:
            current = f"{_VERSION}{_token()}"
            (store / current).mkdir()
            _fsync_dir(store / current)
            _place_link(store, store / _CURRENT, current)
            _fsync_dir(store)
        for name in adopt:
            _adopt(out_dir, store, current, name)
        for name in contents:
            if plan[name] == "absent":
                made.append(name)
                _place_link(store, out_dir / name, _link_target(name))
        _fsync_dir(out_dir)
        if interrupt.received:
            raise _Cancelled
        _place_link(store, store / _CURRENT, version.name)       # the switch
    except BaseException:
        _roll_back(out_dir, store, version, made, created)
        raise
    try:                                    # done: the rest is tidying, retried next time
        _fsync_dir(store)
        _tidy(out_dir, store)
        _fsync_dir(out_dir)
    except OSError:
        pass


def _roll_back(out_dir, store, version, made, created):
    for name in made:
        if _is_ours(out_dir, name):
            _remove(out_dir / name)
    if version is not None:
        _remove(version)
    for entry in os.listdir(store):
        if entry.startswith(_STORE_TEMP):
            _remove(store / entry)
    if _current_version(store) is None:     # nothing was ever switched in: no store
        _tidy(out_dir, store)
        shutil.rmtree(store, ignore_errors=True)
        if created:
            _remove_if_empty(out_dir)


# ---------------------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------------------

def _remove_stale_temporaries(directory):
    """Remove the ``.rpu-tmp-*`` files of single-file writers that are gone."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(_FILE_TEMP):
            continue
        path = directory / entry
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


def _locked_temporary(directory):
    """Create and flock ``directory/.rpu-tmp-<id>``; returns ``(fd, path)``."""
    while True:
        path = directory / f"{_FILE_TEMP}{_token()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Another writer may have taken it for stale and removed it before the flock.
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                return fd, path
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def write_file_atomically(path, data):
    """Write ``data`` (str as UTF-8, or bytes) as the file ``path``, completely or not at
    all: into a temporary file in the same folder, fsynced, then renamed over ``path``."""
    data = _as_bytes(str(path), data)
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    with _HeldInterrupt() as interrupt:
        _remove_stale_temporaries(directory)
        fd, temporary = _locked_temporary(directory)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            if interrupt.received:
                raise _Cancelled
            os.replace(temporary, path)
            temporary = None
            _fsync_dir(directory)
        except _Cancelled:
            pass
        finally:
            try:
                if temporary is not None:
                    _remove(temporary)
            finally:
                os.close(fd)


def write_npz_atomically(path, **arrays):
    """Write ``arrays`` as the .npz file ``path``, completely or not at all (see
    :func:`write_file_atomically`)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_file_atomically(path, buffer.getvalue())
