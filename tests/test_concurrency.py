"""Two runs writing into one folder at the same time never mix their files (issue 10,
item 4).

Two writers (child processes, tests/interrupt_harness.py) write different sets into one
folder; one has every rename/replace/symlink/unlink/mkdir slowed, and the other starts once
the slow one has begun to change the folder. The folder must end with one run's complete
set and nothing else, and a reader polling the folder meanwhile must never see a mixed set:
whenever two successive reads of all the files agree, they are one run's complete set (the
sets differ in every file, so a mix cannot read the same twice across two switches).
"""

import os
import threading
import time

import pytest

from rpu.files import write_files_atomically
from tests.interrupt_harness import writer_spec, start_writer, visible, residue


NOTES = b"a file of the user's\n"


def run_set(tag, *, extra):
    files = {"rpu.v": f"module rpu; // {tag}\nendmodule\n",
             "rpu_sram.v": f"module rpu_sram; // {tag}\nendmodule\n",
             "rpu.json": f'{{"run": "{tag}"}}\n'}
    if extra:
        files["synth.md"] = f"# {tag}\n"          # a name only this run writes
    return files


def as_view(files, notes):
    view = {name: value.encode() for name, value in files.items()}
    return {**view, "notes.txt": NOTES} if notes else view


class Reader(threading.Thread):
    """Polls ``out``; records the consistent reads and any mixed one."""

    def __init__(self, out, allowed):
        super().__init__(daemon=True)
        self.out, self.allowed = out, allowed
        self.stop = threading.Event()
        self.consistent, self.mixed = 0, []

    def run(self):
        previous = object()
        while not self.stop.is_set():
            try:
                shown = visible(self.out)
            except OSError:                 # a file went away between listing and reading
                previous = object()
                continue
            if shown == previous:
                if shown in self.allowed:
                    self.consistent += 1
                else:
                    self.mixed.append(shown)
            previous = shown


def folder_state(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.mark.parametrize("round_", range(6))
def test_two_runs_into_one_folder(tmp_path, round_):
    root = tmp_path / "root"
    root.mkdir()
    out = root / "out"
    first = round_ >= 2                     # rounds 0, 1: the folder does not exist yet
    initial = run_set("initial", extra=True)
    if first:
        out.mkdir()
        (out / "notes.txt").write_bytes(NOTES)
        write_files_atomically(out, initial)
    sets = {"A": run_set("A", extra=True), "B": run_set("B", extra=False)}
    slow, fast = ("A", "B") if round_ % 2 == 0 else ("B", "A")
    views = {tag: as_view(files, first) for tag, files in sets.items()}
    allowed = [views["A"], views["B"]] + (
        [as_view(initial, True)] if first else [None, {}])
    reader = Reader(out, allowed)
    reader.start()
    before = folder_state(root)
    processes = {}
    try:
        processes[slow] = start_writer(
            writer_spec("files", root, out=out, files=sets[slow]), tmp_path / "slow.json",
            delay=0.1)
        deadline = time.monotonic() + 120
        while folder_state(root) == before:     # the slow run has begun changing things
            assert processes[slow].poll() is None, processes[slow].communicate()
            assert time.monotonic() < deadline
            time.sleep(0.002)
        processes[fast] = start_writer(
            writer_spec("files", root, out=out, files=sets[fast]), tmp_path / "fast.json")
        for tag, process in processes.items():
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, (tag, stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        reader.stop.set()
        reader.join()
    shown = visible(out)
    assert shown in (views["A"], views["B"]), shown
    assert residue(out) == []
    assert sorted(os.listdir(root)) == ["out"]
    assert reader.mixed == []
    assert reader.consistent > 0
