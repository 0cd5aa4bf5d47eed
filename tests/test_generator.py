"""The generator: deterministic Verilog, a complete parameter file, and all-or-nothing writes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rpu import generator
from rpu.config import RPUConfig, ConfigError
from rpu.compiler import plan_schedule
import rpu.files
from rpu.generator import generate, emit_verilog, describe, write_files_atomically
from rpu.hw.program import Reg, Op, LayerReg


REPO = Path(__file__).resolve().parent.parent
SMALL = dict(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
             activation_units=1, elementwise_units=1)


@pytest.fixture(scope="module")
def small_config():
    return RPUConfig(**SMALL)


@pytest.fixture(scope="module")
def small_verilog(small_config):
    return emit_verilog(small_config)


@pytest.fixture
def fast_emit(monkeypatch, small_config, small_verilog):
    """Reuse the small configuration's Verilog where only the file handling is tested."""
    def emit(config, **kwargs):
        assert config == small_config
        return small_verilog
    monkeypatch.setattr(generator, "emit_verilog", emit)


def leftovers(directory):
    """Temporary files or directories of the generator in ``directory``."""
    return sorted(path.name for path in Path(directory).iterdir()
                  if path.name.startswith(".rpu-"))


def top_module_ports(verilog):
    """``{name: (direction, width)}`` of the ports of module ``rpu``."""
    start = verilog.index("module rpu(")
    body = verilog[start:verilog.index("endmodule", start)]
    ports = {}
    for direction, msb, name in re.findall(
            r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?([\w$\\]+)\s*;", body, re.M):
        ports[name] = (direction, int(msb) + 1 if msb else 1)
    return ports


# Determinism ----------------------------------------------------------------------------

def test_verilog_has_top_module(small_verilog):
    assert isinstance(small_verilog, str)
    assert "module rpu(" in small_verilog
    assert small_verilog.count("module rpu(") == 1
    assert small_verilog.rstrip().endswith("endmodule")


def test_verilog_identical_across_calls(small_config, small_verilog):
    again = emit_verilog(RPUConfig(**SMALL))
    assert again.encode() == small_verilog.encode()
    assert emit_verilog(small_config) == small_verilog


_EMIT = ("import sys\n"
         "from rpu.config import RPUConfig\n"
         "from rpu.generator import emit_verilog\n"
         "sys.stdout.buffer.write(emit_verilog(RPUConfig(**{config!r})).encode())\n")


def test_verilog_identical_across_processes(small_verilog):
    outputs = []
    for seed in ("1", "12345"):     # different string hashing in each process
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-c", _EMIT.format(config=SMALL)],
                                cwd=REPO, env=env, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0] == small_verilog.encode()


def test_different_configurations_give_different_verilog(small_verilog):
    other = emit_verilog(RPUConfig(**dict(SMALL, hidden_size=6)))
    assert other != small_verilog


# Parameter file -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory, small_config):
    out = tmp_path_factory.mktemp("gen") / "out"
    returned = generate(small_config, out)
    return out, returned


def test_generate_writes_both_files(generated, small_verilog):
    out, returned = generated
    names = {path.name for path in out.iterdir()} - {rpu.files.STORE}   # the hidden store
    assert {"rpu.v", "rpu.json"} <= names
    # Any further file is one the parameter file lists (e.g. a memory model).
    assert names - {"rpu.v", "rpu.json"} <= set(returned.get("files", {}).values())
    for name in returned.get("files", {}).values():
        assert (out / name).is_file()
    assert (out / "rpu.v").read_bytes() == small_verilog.encode()
    assert leftovers(out.parent) == []
    assert leftovers(out) == []


def test_parameter_file_contents(generated, small_config):
    out, returned = generated
    parameters = json.loads((out / "rpu.json").read_text())
    assert parameters == returned
    assert parameters == describe(small_config)
    for key in ("configuration", "ports", "memories", "program_registers", "schedule"):
        assert key in parameters
    assert parameters["top"] == "rpu"
    assert parameters["configuration"] == small_config.to_dict()
    assert RPUConfig.from_dict(parameters["configuration"]) == small_config

    derived = parameters["derived"]
    assert derived["mac_lanes"] == small_config.mac_lanes == 8
    assert derived["weight_depth"] == small_config.weight_depth
    assert derived["accumulator_width"] == small_config.acc_width

    names = [port["name"] for port in parameters["ports"]]
    for name in ("x", "h", "weights", "program", "start", "busy"):
        assert name in names
    assert len(names) == len(set(names))

    weights = parameters["memories"][0]
    assert weights["count"] == small_config.mac_lanes
    assert weights["words"] == small_config.weight_depth
    assert weights["width"] == small_config.weight_width

    registers = parameters["program_registers"]
    for reg in Reg:
        assert registers["global"][reg.name] == int(reg)
    for reg in LayerReg:
        assert registers["per_layer"]["index"][reg.name] == int(reg)
    assert registers["ops"] == {op.name: int(op) for op in Op}


def test_schedule_matches_expansion_model(generated, small_config):
    out, _ = generated
    schedule = json.loads((out / "rpu.json").read_text())["schedule"]
    expected = plan_schedule(small_config, small_config.input_size, small_config.hidden_size)
    assert schedule["input_size"] == 3 and schedule["hidden_size"] == 5
    assert schedule["cycles_per_step"] == expected.step_cycles
    steps = schedule["steps"]
    assert steps >= 1
    assert schedule["total_cycles"] == expected.total_cycles(steps)
    assert schedule["utilization"] == pytest.approx(expected.utilization(steps), rel=1e-12)
    assert 0 < schedule["utilization"] <= 1
    # Independent arithmetic: 4H(I+H) MACs per step on 8 lanes over the predicted cycles.
    assert schedule["utilization"] == pytest.approx(
        4 * 5 * (3 + 5) * steps / (8 * expected.total_cycles(steps)), rel=1e-12)


def test_ports_match_the_verilog(generated, small_verilog):
    out, _ = generated
    ports = json.loads((out / "rpu.json").read_text())["ports"]
    verilog_ports = top_module_ports(small_verilog)
    expected = {}
    for port in ports:
        direction = {"in": "input", "out": "output"}[port["direction"]]
        if port.get("kind") == "stream":
            back = "output" if direction == "input" else "input"
            expected[port["name"] + "__payload"] = (direction, port["payload_bits"])
            expected[port["name"] + "__valid"] = (direction, 1)
            expected[port["name"] + "__ready"] = (back, 1)
        else:
            expected[port["name"]] = (direction, port["width"])
    assert verilog_ports == expected


def test_generate_schedule_for_a_smaller_lstm(tmp_path, small_config, fast_emit):
    parameters = generate(small_config, tmp_path / "out", input_size=2, hidden_size=3)
    expected = plan_schedule(small_config, 2, 3)
    assert parameters["schedule"]["cycles_per_step"] == expected.step_cycles
    assert parameters["schedule"]["hidden_size"] == 3
    with pytest.raises(ConfigError, match="hidden_size"):
        generate(small_config, tmp_path / "bad", hidden_size=6)
    assert not (tmp_path / "bad").exists()


def test_generate_twice_overwrites_identically(tmp_path, small_config):
    out = tmp_path / "out"
    generate(small_config, out)
    first = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    generate(small_config, out)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == first
    assert leftovers(tmp_path) == []


def test_generate_creates_missing_parents(tmp_path, small_config, fast_emit):
    out = tmp_path / "a" / "b" / "out"
    generate(small_config, out)
    assert (out / "rpu.v").is_file() and (out / "rpu.json").is_file()


# Failures leave nothing behind ----------------------------------------------------------

def _fail(*args, **kwargs):
    raise RuntimeError("injected failure")


@pytest.mark.parametrize("function", ["emit_verilog", "describe"])
def test_failure_before_writing_leaves_nothing(tmp_path, monkeypatch, small_config, function):
    monkeypatch.setattr(generator, function, _fail)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="injected"):
        generate(small_config, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failure_while_moving_into_place_leaves_nothing(tmp_path, monkeypatch, small_config,
                                                         fast_emit):
    real_replace = os.replace
    calls = []

    def replace(source, destination):
        calls.append(Path(destination).name)
        if len(calls) == 2:             # rpu.v is in place, the next file fails
            raise OSError("injected failure")
        return real_replace(source, destination)

    monkeypatch.setattr(rpu.files.os, "replace", replace)  # the writer lives there
    out = tmp_path / "out"
    with pytest.raises(OSError, match="injected"):
        generate(small_config, out)
    monkeypatch.undo()
    assert len(calls) >= 2
    assert not (out / "rpu.v").exists() and not (out / "rpu.json").exists()
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failure_while_writing_keeps_the_previous_files(tmp_path, small_config, fast_emit):
    # A previous generation's rpu.v, and a directory where rpu.json should go: the new rpu.v
    # must not replace the old one when rpu.json cannot be written.
    out = tmp_path / "out"
    out.mkdir()
    (out / "rpu.v").write_text("old verilog\n")
    (out / "rpu.json").mkdir()
    (out / "rpu.json" / "keep").write_text("x")
    with pytest.raises(OSError):
        generate(small_config, out)
    assert (out / "rpu.v").read_text() == "old verilog\n"
    assert (out / "rpu.json" / "keep").read_text() == "x"
    assert sorted(path.name for path in out.iterdir()) == ["rpu.json", "rpu.v"]
    assert leftovers(tmp_path) == []
    assert leftovers(out) == []


def test_write_files_atomically_failure_while_staging(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TypeError):
        write_files_atomically(out, {"a.txt": "a", "b.bin": b"b", "c.txt": object()})
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_write_files_atomically_success(tmp_path):
    out = tmp_path / "out"
    write_files_atomically(out, {"a.txt": "text\n", "b.bin": b"\x00\x01"})
    assert (out / "a.txt").read_text() == "text\n"
    assert (out / "b.bin").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []


def test_output_path_that_is_a_file_is_rejected(tmp_path, small_config, fast_emit):
    path = tmp_path / "out"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match="out"):
        generate(small_config, path)
    with pytest.raises(ValueError, match="not a directory"):
        write_files_atomically(path, {"a.txt": "a"})
    assert path.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_generate_rejects_a_non_config(tmp_path):
    with pytest.raises(TypeError, match="RPUConfig"):
        generate(SMALL, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# Row scales -------------------------------------------------------------------------------

def test_row_scales_in_verilog_and_parameter_file(tmp_path):
    """With row scales every lane has a 4-bit scale memory of num_layers * max_groups words,
    written through the weight stream's wider address; rpu.json says so and its ports still
    match the Verilog. Without, rpu.json has no trace of them."""
    values = dict(SMALL, hidden_size=6, weight_width=8)
    config = RPUConfig(**values, row_scales=True)
    parameters = generate(config, tmp_path)
    verilog = (tmp_path / "rpu.v").read_text()
    assert config.max_groups == 3 and config.weight_depth == 3 * (1 + 3 + 6) == 30
    # Eight lanes, each with a scale memory: an rpu_sram of 3 words of 4 bits.
    scale_srams = re.findall(r"^module \\rpu\.pim0\.lane\d+\.scales\b.*?rpu_sram\s*#\(\s*"
                             r"\.ABITS\(32'd(\d+)\),\s*\.DEPTH\(32'd(\d+)\),\s*"
                             r"\.WIDTH\(32'd(\d+)\)", verilog, re.M | re.S)
    assert scale_srams == [("2", "3", "4")] * 8
    assert parameters["derived"]["scale_depth"] == 3
    assert parameters["derived"]["load_depth"] == 30 + 3
    [memory] = [m for m in parameters["memories"] if m["name"].endswith(".scales")]
    assert (memory["count"], memory["words"], memory["width"]) == (8, 3, 4)
    [weights] = [p for p in parameters["ports"] if p["name"] == "weights"]
    assert weights["payload"]["addr"] == "bits [5:0]"        # 33 addresses
    assert "scale memories" in weights["payload_meaning"]["addr"]
    assert parameters["configuration"]["row_scales"] is True
    ports = top_module_ports(verilog)
    assert ports["weights__payload"] == ("input", weights["payload_bits"])

    plain = describe(RPUConfig(**values))
    assert "row_scales" not in plain["configuration"]
    assert "scale_depth" not in plain["derived"]
    assert not [m for m in plain["memories"] if "scales" in m["name"]]
    [weights] = [p for p in plain["ports"] if p["name"] == "weights"]
    assert weights["payload"]["addr"] == "bits [4:0]"        # 30 addresses
    assert weights["payload_meaning"]["addr"] == "weight word address"
