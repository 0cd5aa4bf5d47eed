"""Outputs survive SIGINT and SIGKILL at every step of their switch (issue 10, item 3).

A writer runs in a child process (tests/interrupt_harness.py) that sends itself SIGINT or
SIGKILL at its k-th rename/replace/symlink/link/unlink/rmdir/mkdir under the test folder,
for every k. Afterwards the folder must show the complete old set or the complete new set
(contents compared with the known sets), with nothing else left after SIGINT, and after
SIGKILL nothing else once the next run has written into the folder.

``synth`` and ``explore`` are not run (no Yosys, no sweep): their writers call
``write_files_atomically(out_dir, files)`` with the file sets below (checked against the
sources by ``test_file_sets_are_those_of_the_commands``), so the same call is interrupted
here. ``generate`` is also interrupted as a real ``python -m rpu generate``.
"""

import json
import re
import shutil
import signal
from pathlib import Path

import pytest

from rpu.files import write_files_atomically
from tests.helpers import REPO
from tests.interrupt_harness import writer_spec, run_writer, visible, residue


# The tests here send SIGINT or check how it is handled: they start from Python's default
# handling, whatever an earlier test of the same worker left.
pytestmark = pytest.mark.usefixtures("default_sigint")


NOTES = b"a file of the user's, which no writer may touch\n"


def generate_set(tag):
    """What ``generate`` writes (rpu/generator.py)."""
    return {"rpu.v": f"module rpu; // {tag}\nendmodule\n",
            "rpu_sram.v": f"module rpu_sram; // {tag}\nendmodule\n",
            "rpu.json": json.dumps({"run": tag}, indent=2) + "\n"}


def synth_set(tag, *, liberty):
    """What ``synth`` writes (rpu/eda/report.py): the generic library only without
    ``--liberty``."""
    files = {"rpu.v": f"module rpu; // {tag}\nendmodule\n",
             "rpu_sram.v": f"module rpu_sram; // {tag}\nendmodule\n",
             "rpu_sram_blackbox.v": f"(* blackbox *) module rpu_sram; // {tag}\nendmodule\n",
             "synth.log": f"yosys log of {tag}\n" * 50}
    if not liberty:
        files["rpu_generic_ge.lib"] = f"library (rpu_generic_ge) {{ /* {tag} */ }}\n"
    files["synth.json"] = json.dumps({"run": tag}) + "\n"
    files["synth.md"] = f"# Synthesis of {tag}\n"
    return files


def explore_set(tag):
    """What ``explore`` writes (rpu/explore): two CSV tables, two PNG plots, a summary."""
    png = b"\x89PNG\r\n\x1a\n" + tag.encode() * 40 + bytes(range(256))
    return {"points.csv": f"point,run\n0,{tag}\n",
            "pareto.csv": f"point,run\n0,{tag}\n",
            "area_vs_latency.png": png,
            "energy_vs_accuracy.png": png[::-1],
            "summary.json": json.dumps({"run": tag}) + "\n"}


SETS = {
    "generate": (generate_set("old"), generate_set("new")),
    # The old run had the generic library, the new one a --liberty: a name disappears.
    "synth": (synth_set("old", liberty=False), synth_set("new", liberty=True)),
    "explore": (explore_set("old"), explore_set("new")),
}


def test_file_sets_are_those_of_the_commands():
    """The names above are the ones the commands write (kept honest against the sources)."""
    sources = "".join(path.read_text() for folder in ("rpu", "rpu/eda", "rpu/explore")
                      for path in sorted((REPO / folder).glob("*.py")))
    for command, (old, new) in SETS.items():
        for name in set(old) | set(new):
            if name == "rpu_generic_ge.lib":
                from rpu.eda.cell_library import LIBRARY_NAME
                assert LIBRARY_NAME == "rpu_generic_ge"
                assert re.search(r'f"\{LIBRARY_NAME\}\.lib"', sources)
            else:
                assert f'"{name}"' in sources, (command, name)


def prepare(out, layout, old):
    """``out`` holding ``old``: written by write_files_atomically ("store"), as regular
    files by a writer from before the store ("legacy"), or no folder at all ("absent")."""
    if layout == "absent":
        return
    out.mkdir(parents=True)
    (out / "notes.txt").write_bytes(NOTES)
    if layout == "store":
        write_files_atomically(out, old)
    else:
        for name, value in old.items():
            (out / name).write_bytes(value if isinstance(value, bytes) else value.encode())


def as_bytes(files):
    return {name: value if isinstance(value, bytes) else value.encode()
            for name, value in files.items()}


def expected_views(layout, old, new):
    """What the folder may show: the old set, or the new set. A regular file of a legacy
    folder that the new set does not name is not the writer's to remove."""
    if layout == "absent":
        return None, as_bytes(new)
    kept = {name: value for name, value in as_bytes(old).items() if name not in new} \
        if layout == "legacy" else {}
    return ({**as_bytes(old), "notes.txt": NOTES},
            {**kept, **as_bytes(new), "notes.txt": NOTES})


def interrupt_at_every_call(tmp_path, spec_of, layout, old, new, *, check_new=None,
                            timeout=600):
    """Run the writer of ``spec_of(root, out)`` once to count its calls, then once per
    call k and signal; check what the folder shows. ``new`` is the set the writer writes,
    or None to take it from the first run (checked by ``check_new``). Returns
    ``{(signal, k, after): "old"|"new"}``."""
    work = tmp_path / "work"
    work.mkdir()
    root = tmp_path / "root"
    out = root / "out"

    def fresh():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        prepare(out, layout, old)

    fresh()
    spec = spec_of(root, out)
    code, stderr, calls = run_writer(spec, work, timeout=timeout)
    assert code == 0, stderr
    if new is None:                         # what the command writes: its own output
        new = {name: value for name, value in visible(out).items() if name != "notes.txt"}
        check_new(new)
    old_view, new_view = expected_views(layout, old, new)
    assert visible(out) == new_view and residue(out) == []
    assert calls and len(calls) >= 3, calls
    outcomes = {}
    runs = [(signal.SIGINT, k, False) for k in range(1, len(calls) + 1)]
    runs += [(signal.SIGKILL, k, False) for k in range(1, len(calls) + 1)]
    runs.append((signal.SIGKILL, len(calls), True))       # after the very last call
    for kill_signal, k, after in runs:
        fresh()
        where = (kill_signal.name, k, "after" if after else "before", calls[k - 1])
        code, stderr, _ = run_writer(spec, work, kill_at=k, kill_signal=kill_signal,
                                     after=after, timeout=timeout)
        assert code == -kill_signal, (where, code, stderr)
        shown = visible(out)
        if layout == "absent" and kill_signal == signal.SIGKILL and shown == {}:
            shown = None                    # a first run killed: a folder showing nothing
        assert shown in (old_view, new_view), (where, shown)
        outcomes[kill_signal, k, after] = "old" if shown == old_view else "new"
        if kill_signal == signal.SIGINT:
            assert residue(out) == [], where
            if layout == "absent" and shown is None:
                assert not out.exists(), (where, sorted(root.rglob("*")))
        else:
            # Whatever SIGKILL left, the next run into the folder removes.
            write_files_atomically(out, new)
            assert visible(out) == new_view and residue(out) == [], where
        assert sorted(path.name for path in root.iterdir()) == (
            ["out"] if out.exists() else []), where   # nothing in the parent
    # Both outcomes occur: the switch happens somewhere in the middle of the calls.
    for kill_signal in (signal.SIGINT, signal.SIGKILL):
        seen = {value for key, value in outcomes.items() if key[0] == kill_signal}
        assert seen == {"old", "new"}, (kill_signal, outcomes)
    return outcomes


@pytest.mark.parametrize("command, layout", [
    (command, layout) for command in sorted(SETS) for layout in ("store", "legacy")]
    + [("generate", "absent")])
def test_write_files_interrupted_at_every_call(tmp_path, command, layout):
    old, new = SETS[command]
    interrupt_at_every_call(
        tmp_path, lambda root, out: writer_spec("files", root, out=out, files=new),
        layout, old, new)


def generate_command(tmp_path, layout):
    """``python -m rpu generate`` (I=3, H=4) interrupted at every call, into a folder that
    holds an older set (from write_files_atomically, or regular files like those of the
    writer before the store). The new set is what the uninterrupted run writes."""
    argv = ["generate", "--input-size", "3", "--hidden-size", "4"]

    def check_new(new):
        assert sorted(new) == ["rpu.json", "rpu.v", "rpu_sram.v"]
        assert b"module rpu(" in new["rpu.v"]
        assert json.loads(new["rpu.json"])["schedule"]["hidden_size"] == 4

    outcomes = interrupt_at_every_call(
        tmp_path, lambda root, out: writer_spec("cli", root, argv=[*argv, "-o", str(out)]),
        layout, generate_set("old"), None, check_new=check_new)
    # The case: SIGINT at the third rename of a folder holding rpu.v, rpu.json and
    # rpu_sram.v lost the old rpu_sram.v. Every k above kept a complete set.
    assert len(outcomes) >= 7


def test_generate_command_interrupted_at_every_call(tmp_path):
    generate_command(tmp_path, "store")


@pytest.mark.long
def test_generate_command_into_a_legacy_folder_interrupted_at_every_call(tmp_path):
    generate_command(tmp_path, "legacy")


# One file: simulate --out, run --out, model export ----------------------------------------

def test_single_file_interrupted_at_every_call(tmp_path):
    """``write_npz_atomically`` (``simulate --out``): the old file or the new one; no
    temporary file after SIGINT; after SIGKILL the next write removes it."""
    import numpy as np
    from rpu.files import write_npz_atomically

    work = tmp_path / "work"
    work.mkdir()
    root = tmp_path / "root"
    path = root / "Y.npz"
    spec = writer_spec("npz", root, path=path, arrays={"h": [[1.5, 2.5]], "cycles": 7})

    def fresh():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        write_npz_atomically(path, h=np.zeros((1, 2)), cycles=np.int64(3))

    def contents():
        with np.load(path) as data:
            return data["h"].tolist(), int(data["cycles"])

    fresh()
    code, stderr, calls = run_writer(spec, work)
    assert code == 0, stderr
    assert contents() == ([[1.5, 2.5]], 7)
    assert sorted(p.name for p in root.iterdir()) == ["Y.npz"]
    assert [call[0] for call in calls] == ["replace"]
    for kill_signal in (signal.SIGINT, signal.SIGKILL):
        for after in (False, True):
            fresh()
            code, stderr, _ = run_writer(spec, work, kill_at=1, kill_signal=kill_signal,
                                         after=after)
            assert code == -kill_signal, stderr
            assert contents() in [([[0.0, 0.0]], 3), ([[1.5, 2.5]], 7)]
            names = sorted(p.name for p in root.iterdir())
            if kill_signal == signal.SIGINT or after:
                assert names == ["Y.npz"]
            else:
                assert names[0].startswith(".rpu-tmp-") and names[1:] == ["Y.npz"]
                write_npz_atomically(path, h=np.ones((1, 2)), cycles=np.int64(9))
                assert sorted(p.name for p in root.iterdir()) == ["Y.npz"]
                assert contents() == ([[1.0, 1.0]], 9)
