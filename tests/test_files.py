"""rpu.files: sets of output files switched in one step, single files replaced whole, and
output folders checked and written without touching their parent (issue 10, items 3, 4, 6).

Interruptions at every step are in tests/test_interrupt.py, concurrent runs in
tests/test_concurrency.py.
"""

import fcntl
import os
import pickle
import shutil
import signal
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pytest

import rpu.files
from rpu.files import (STORE, check_out_dir, write_file_atomically, write_files_atomically,
                       write_npz_atomically)
from tests.interrupt_harness import visible, residue


# The tests here send SIGINT or check how it is handled: they start from Python's default
# handling, whatever an earlier test of the same worker left.
pytestmark = pytest.mark.usefixtures("default_sigint")


def store_entries(out):
    return sorted(os.listdir(out / STORE))


def current_version(out):
    return os.readlink(out / STORE / "current")


# A set of files --------------------------------------------------------------------------

def test_first_write_makes_links_into_one_version(tmp_path):
    out = tmp_path / "a" / "out"
    write_files_atomically(out, {"rpu.v": "verilog\n", "data.bin": b"\x00\xff"})
    assert visible(out) == {"rpu.v": b"verilog\n", "data.bin": b"\x00\xff"}
    for name in ("rpu.v", "data.bin"):
        assert os.readlink(out / name) == f"{STORE}/current/{name}"     # relative
    version = current_version(out)
    assert version.startswith("v-") and "/" not in version
    assert store_entries(out) == sorted(["lock", "current", version])
    assert sorted(os.listdir(out / STORE / version)) == ["data.bin", "rpu.v"]
    assert sorted(os.listdir(out)) == sorted([STORE, "rpu.v", "data.bin"])
    assert sorted(os.listdir(tmp_path / "a")) == ["out"]           # nothing in the parent
    assert residue(out) == []


def test_a_new_set_replaces_the_previous_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    write_files_atomically(out, {"rpu.v": "one\n", "synth.md": "report\n", "rpu.json": "1"})
    first = current_version(out)
    write_files_atomically(out, {"rpu.v": "two\n", "rpu.json": "2"})
    # synth.md belonged to the previous set only: gone; the user's file is untouched.
    assert visible(out) == {"rpu.v": b"two\n", "rpu.json": b"2", "notes.txt": b"mine\n"}
    assert sorted(os.listdir(out)) == sorted([STORE, "notes.txt", "rpu.json", "rpu.v"])
    assert current_version(out) != first
    assert store_entries(out) == sorted(["lock", "current", current_version(out)])
    assert residue(out) == []


def test_regular_files_of_an_older_writer_are_adopted(tmp_path):
    # A folder written before the store existed: regular files.
    out = tmp_path / "out"
    out.mkdir()
    (out / "rpu.v").write_text("old verilog\n")
    (out / "rpu.json").write_text("old json\n")
    (out / "stale.lib").write_text("not in the new set\n")
    write_files_atomically(out, {"rpu.v": "new verilog\n", "rpu.json": "new json\n",
                                 "rpu_sram.v": "new sram\n"})
    assert visible(out) == {"rpu.v": b"new verilog\n", "rpu.json": b"new json\n",
                            "rpu_sram.v": b"new sram\n", "stale.lib": b"not in the new set\n"}
    assert all(os.path.islink(out / name) for name in ("rpu.v", "rpu.json", "rpu_sram.v"))
    assert not os.path.islink(out / "stale.lib")         # not the writer's: left alone
    assert residue(out) == []


def test_a_directory_in_the_way_changes_nothing(tmp_path):
    out = tmp_path / "out"
    write_files_atomically(out, {"rpu.v": "old\n", "rpu.json": "old\n"})
    version = current_version(out)
    os.unlink(out / "rpu.json")
    (out / "rpu.json").mkdir()
    with pytest.raises(IsADirectoryError, match="rpu.json"):
        write_files_atomically(out, {"rpu.v": "new\n", "rpu.json": "new\n"})
    assert (out / "rpu.v").read_text() == "old\n"
    assert current_version(out) == version
    assert store_entries(out) == sorted(["lock", "current", version])


@pytest.mark.parametrize("fail_at", ["version", "link", "switch"])
def test_a_failure_before_the_switch_keeps_the_previous_set(tmp_path, monkeypatch, fail_at):
    out = tmp_path / "out"
    write_files_atomically(out, {"rpu.v": "old\n", "rpu.json": "old\n"})
    before = visible(out)
    real_replace, real_mkdir = os.replace, os.mkdir

    def replace(source, destination):
        name = Path(destination).name
        if (fail_at, name) in (("link", "synth.md"), ("switch", "current")):
            raise OSError("injected failure")
        return real_replace(source, destination)

    def mkdir(path, *args, **kwargs):
        if fail_at == "version" and Path(path).name.startswith("v-"):
            raise OSError("injected failure")
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(rpu.files.os, "replace", replace)
    monkeypatch.setattr(rpu.files.os, "mkdir", mkdir)
    with pytest.raises(OSError, match="injected"):
        write_files_atomically(out, {"rpu.v": "new\n", "rpu.json": "new\n", "synth.md": "x"})
    monkeypatch.undo()
    assert visible(out) == before
    assert residue(out) == []
    assert sorted(os.listdir(out)) == sorted([STORE, "rpu.json", "rpu.v"])


def test_a_failed_first_write_leaves_no_folder(tmp_path, monkeypatch):
    real_replace = os.replace

    def replace(source, destination):
        if Path(destination).name == "current":
            raise OSError("injected failure")
        return real_replace(source, destination)

    monkeypatch.setattr(rpu.files.os, "replace", replace)
    with pytest.raises(OSError, match="injected"):
        write_files_atomically(tmp_path / "out", {"a": "a", "b": "b"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("when", ["before the switch", "at the switch"])
def test_sigint_is_held_until_the_set_is_consistent(tmp_path, monkeypatch, when):
    """Ctrl-C before the switch cancels it, at the switch lets it finish; either way the
    KeyboardInterrupt comes out afterwards and Python's handler is back."""
    out = tmp_path / "out"
    write_files_atomically(out, {"rpu.v": "old\n"})
    real_replace, real_mkdir = os.replace, os.mkdir

    def mkdir(path, *args, **kwargs):
        if when == "before the switch" and Path(path).name.startswith("v-"):
            os.kill(os.getpid(), signal.SIGINT)
        return real_mkdir(path, *args, **kwargs)

    def replace(source, destination):
        if when == "at the switch" and Path(destination).name == "current":
            os.kill(os.getpid(), signal.SIGINT)
        return real_replace(source, destination)

    monkeypatch.setattr(rpu.files.os, "mkdir", mkdir)
    monkeypatch.setattr(rpu.files.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_files_atomically(out, {"rpu.v": "new\n", "rpu.json": "new\n"})
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    expected = {"rpu.v": b"old\n"} if when == "before the switch" else \
        {"rpu.v": b"new\n", "rpu.json": b"new\n"}
    assert visible(out) == expected
    assert residue(out) == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    write_files_atomically(out, {"rpu.v": "one\n"})
    # What SIGKILL can leave: a staging version, a temporary link, a dangling link.
    (out / STORE / "v-killed").mkdir()
    (out / STORE / "v-killed" / "rpu.v").write_text("half")
    os.symlink("v-killed", out / STORE / "tmp-killed")
    os.symlink(f"{STORE}/current/synth.md", out / "synth.md")
    assert residue(out) != []
    write_files_atomically(out, {"rpu.v": "two\n"})
    assert visible(out) == {"rpu.v": b"two\n"}
    assert residue(out) == []
    assert sorted(os.listdir(out)) == [STORE, "rpu.v"]


@pytest.mark.parametrize("files, error", [
    ({"a": "a", "b": object()}, TypeError),
    ({"a": "a", "sub/b": "b"}, ValueError),
    ({"a": "a", "..": "b"}, ValueError),
    ({"a": "a", STORE: "b"}, ValueError),
    ({"a": "a", ".rpu-tmp-x": "b"}, ValueError),
])
def test_bad_files_are_refused_before_anything_is_written(tmp_path, files, error):
    with pytest.raises(error):
        write_files_atomically(tmp_path / "out", files)
    assert list(tmp_path.iterdir()) == []


# The output folder ----------------------------------------------------------------------

def test_check_out_dir(tmp_path):
    assert check_out_dir(tmp_path / "new" / "out") == tmp_path / "new" / "out"
    assert check_out_dir(str(tmp_path)) == tmp_path
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        check_out_dir(tmp_path / "file")
    with pytest.raises(ValueError, match="is not a directory"):
        check_out_dir(tmp_path / "file" / "out")
    os.symlink(tmp_path / "nowhere", tmp_path / "broken")
    with pytest.raises(ValueError, match="broken symbolic link"):
        check_out_dir(tmp_path / "broken")
    assert sorted(os.listdir(tmp_path)) == ["broken", "file"]


def as_nobody(function):
    """Run ``function()`` in a forked child as user and group 65534 (root passes every
    permission check); returns its result, or raises AssertionError with its traceback."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                            # the child: never return into pytest
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = ("ok", function())
        except BaseException:
            result = ("error", traceback.format_exc())
        try:
            with os.fdopen(write, "wb") as file:
                pickle.dump(result, file)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as file:
        data = file.read()
    os.waitpid(pid, 0)
    status, value = pickle.loads(data)
    if status != "ok":
        raise AssertionError(f"in the child run as nobody:\n{value}")
    return value


@pytest.fixture
def read_only_parent():
    """``(parent, out)``: ``parent`` read-only (0555, root's), ``out`` world-writable, in a
    folder that user 65534 can reach (pytest's tmp_path is root's 0700)."""
    if os.getuid() != 0:
        pytest.fail("run as root: the test switches to user 65534")
    base = Path(tempfile.mkdtemp(prefix="rpu-files-"))
    base.chmod(0o755)
    parent, out = base / "parent", base / "parent" / "out"
    out.mkdir(parents=True)
    out.chmod(0o777)
    parent.chmod(0o555)
    try:
        yield parent, out
    finally:
        parent.chmod(0o755)
        shutil.rmtree(base)


def test_a_writable_folder_under_a_read_only_parent(read_only_parent, monkeypatch):
    parent, out = read_only_parent
    from rpu import generator
    from rpu.config import RPUConfig

    config = RPUConfig(input_size=3, hidden_size=4)
    monkeypatch.setattr(generator, "emit_verilog", lambda config: "module rpu;\nendmodule\n")
    generator.generate(config, out / "warm-up-as-root")      # imports everything it needs
    shutil.rmtree(out / "warm-up-as-root")

    def child():
        assert os.geteuid() == 65534
        assert not os.access(parent, os.W_OK) and os.access(out, os.W_OK)
        write_files_atomically(out, {"rpu.v": "one\n", "rpu.json": "1\n"})
        write_files_atomically(out, {"rpu.v": "two\n", "rpu.json": "2\n"})
        first = (visible(out), residue(out))
        parameters = generator.generate(config, out / "generated")
        generated = visible(out / "generated")
        write_npz_atomically(out / "Y.npz", h=np.arange(3))
        refused = []
        for attempt in (lambda: check_out_dir(parent / "new"),
                        lambda: write_files_atomically(parent / "new", {"a": "a"}),
                        lambda: generator.generate(config, parent / "new")):
            try:
                attempt()
            except ValueError as error:
                refused.append(str(error))
        return (first, parameters["schedule"]["hidden_size"], sorted(generated), refused,
                sorted(os.listdir(parent)), sorted(os.listdir(out)))

    first, hidden, generated, refused, in_parent, in_out = as_nobody(child)
    assert first == ({"rpu.v": b"two\n", "rpu.json": b"2\n"}, [])
    assert hidden == 4 and generated == ["rpu.json", "rpu.v", "rpu_sram.v"]
    with np.load(out / "Y.npz") as data:
        assert data["h"].tolist() == [0, 1, 2]
    assert len(refused) == 3
    assert all("cannot be created" in message and "not writable" in message
               and str(parent) in message for message in refused), refused
    assert in_parent == ["out"]
    assert in_out == sorted([STORE, "Y.npz", "generated", "rpu.json", "rpu.v"])


def test_a_read_only_folder_is_refused_up_front(read_only_parent):
    parent, out = read_only_parent
    write_files_atomically(out, {"a": "root's\n"})    # a store that only root can write

    def child():
        messages = []
        for folder in (parent, out):
            try:
                write_files_atomically(folder, {"a": "a"})
            except ValueError as error:
                messages.append(str(error))
        return messages

    messages = as_nobody(child)
    assert len(messages) == 2
    assert "is not writable" in messages[0] and str(parent) in messages[0]
    assert "store" in messages[1] and "not writable" in messages[1]
    assert sorted(os.listdir(parent)) == ["out"]
    assert visible(out) == {"a": b"root's\n"} and residue(out) == []


# One file -------------------------------------------------------------------------------

def test_single_file_written_whole(tmp_path):
    path = tmp_path / "Y.npz"
    write_npz_atomically(path, h=np.arange(4), cycles=np.int64(5))
    write_npz_atomically(path, h=np.arange(2), cycles=np.int64(6))
    with np.load(path) as data:
        assert data["h"].tolist() == [0, 1] and int(data["cycles"]) == 6
    write_file_atomically(tmp_path / "t.txt", "µ text\n")
    assert (tmp_path / "t.txt").read_bytes() == "µ text\n".encode()
    assert sorted(os.listdir(tmp_path)) == ["Y.npz", "t.txt"]


def test_single_file_failure_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "Y.npz"
    write_npz_atomically(path, h=np.arange(3))

    def replace(source, destination):
        raise OSError("injected failure")

    monkeypatch.setattr(rpu.files.os, "replace", replace)
    with pytest.raises(OSError, match="injected"):
        write_npz_atomically(path, h=np.arange(5))
    monkeypatch.undo()
    with np.load(path) as data:
        assert data["h"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == ["Y.npz"]


def test_stale_temporaries_are_removed_but_not_those_of_live_writers(tmp_path):
    stale = tmp_path / ".rpu-tmp-killed"
    stale.write_bytes(b"half")
    live = tmp_path / ".rpu-tmp-live"
    with open(live, "wb") as file:
        fcntl.flock(file, fcntl.LOCK_EX)    # as a writer that is still writing holds it
        write_npz_atomically(tmp_path / "Y.npz", h=np.arange(3))
        assert sorted(os.listdir(tmp_path)) == [".rpu-tmp-live", "Y.npz"]
    write_npz_atomically(tmp_path / "Y.npz", h=np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["Y.npz"]
