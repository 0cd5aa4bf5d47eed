"""The interconnect in simulation: every route of the activation and element-wise units with
random source values, and the push strobes for every done tag.

The expected routing is written out here from the module's documentation:

* activation units: candidates ``act_x[a] = (pre[a], cell_head[a])`` with functions
  ``act_func[a] = (pre_func[a], TANH)`` whatever the route; the one-hot ``act_select`` takes
  candidate ACT_PRE for route GATES, ACT_CELL for TANH_C, none for any other value;
* element-wise route CELL: ``(a, b, c, d) = (f, c_prev, i, g)``; HIDDEN:
  ``(o, tanh_c, 0, 0)``; any other value: zeros;
* ``push_gate``/``push_tanh_c`` when ``act_done`` is GATES/TANH_C, ``push_cell``/
  ``push_hidden`` when ``ew_done`` is CELL/HIDDEN, each independently of the routes.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from lstm_ref.activation import TANH
from rpu.config import RPUConfig
from rpu.hw.interconnect import ACT_CELL, ACT_PRE, Interconnect
from rpu.hw.program import Op, OP_BITS


CONFIGS = {
    "A1E1": RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                      activation_units=1, elementwise_units=1),
    "A2E4": RPUConfig(input_size=3, hidden_size=5, pim_arrays=2, lanes_per_array=8,
                      activation_units=2, elementwise_units=4),
    "A4E2-d8": RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=16,
                         activation_units=4, elementwise_units=2, data_width=8,
                         data_frac_bits=5, activation_segments=16),
}

ALL_CODES = range(1 << OP_BITS)


def random_words(rng, fmt, count):
    return rng.integers(fmt.min_code, fmt.max_code + 1, size=count).tolist()


def expected_act(route, src):
    """Candidates, their functions (one int per unit) and the select."""
    n = len(src["pre"])
    x = [[0, 0] for _ in range(n)]
    func = [0] * n
    for a in range(n):
        x[a][ACT_PRE], x[a][ACT_CELL] = src["pre"][a], src["cell_head"][a]
        func[a] = ((src["pre_func"] >> a & 1) << ACT_PRE) | (TANH << ACT_CELL)
    select = {Op.GATES: 1 << ACT_PRE, Op.TANH_C: 1 << ACT_CELL}.get(route, 0)
    return x, func, select


def expected_ew(route, src):
    n = len(src["gate_i"])
    if route == Op.CELL:
        return src["gate_f"], src["c_prev"], src["gate_i"], src["gate_g"]
    if route == Op.HIDDEN:
        return src["gate_o"], src["tanh_c"], [0] * n, [0] * n
    return [0] * n, [0] * n, [0] * n, [0] * n


@pytest.mark.parametrize("name", list(CONFIGS))
def test_routes_and_strobes(name):
    config = CONFIGS[name]
    dut = Interconnect(config=config)
    fmt = config.data_format
    A, E = config.activation_units, config.elementwise_units
    rng = np.random.default_rng(list(CONFIGS).index(name))
    checked = {"act": set(), "ew": set(), "act_done": set(), "ew_done": set()}

    async def testbench(ctx):
        def randomize():
            src = {
                "pre": random_words(rng, fmt, A),
                "pre_func": int(rng.integers(0, 1 << A)),
                "cell_head": random_words(rng, fmt, A),
                "gate_i": random_words(rng, fmt, E),
                "gate_f": random_words(rng, fmt, E),
                "gate_g": random_words(rng, fmt, E),
                "gate_o": random_words(rng, fmt, E),
                "c_prev": random_words(rng, fmt, E),
                "tanh_c": random_words(rng, fmt, E),
            }
            for key, value in src.items():
                ctx.set(getattr(dut, key), value)
            return src

        for trial in range(6):
            # Routes: every code for one side while the other side takes a random code.
            for route in ALL_CODES:
                for side in ("act", "ew"):
                    src = randomize()
                    act_route = route if side == "act" else int(rng.integers(0, 16))
                    ew_route = route if side == "ew" else int(rng.integers(0, 16))
                    act_done, ew_done = (int(x) for x in rng.integers(0, 16, size=2))
                    ctx.set(dut.act_route, act_route)
                    ctx.set(dut.ew_route, ew_route)
                    ctx.set(dut.act_done, act_done)
                    ctx.set(dut.ew_done, ew_done)
                    x, func, select = expected_act(act_route, src)
                    assert [list(c) for c in ctx.get(dut.act_x)] == x, (act_route, src)
                    assert list(ctx.get(dut.act_func)) == func, (act_route, src["pre_func"])
                    assert ctx.get(dut.act_select) == select, act_route
                    a, b, c, d = expected_ew(ew_route, src)
                    got = tuple(list(ctx.get(p)) for p in (dut.ew_a, dut.ew_b, dut.ew_c,
                                                           dut.ew_d))
                    assert got == (a, b, c, d), (ew_route, src)
                    checked["act"].add(act_route)
                    checked["ew"].add(ew_route)
            # Strobes: every act_done and ew_done value, with random routes.
            for done in ALL_CODES:
                randomize()
                ctx.set(dut.act_route, int(rng.integers(0, 16)))
                ctx.set(dut.ew_route, int(rng.integers(0, 16)))
                other = int(rng.integers(0, 16))
                for act_done, ew_done in ((done, other), (other, done)):
                    ctx.set(dut.act_done, act_done)
                    ctx.set(dut.ew_done, ew_done)
                    strobes = {p: ctx.get(getattr(dut, p)) for p in
                               ("push_gate", "push_tanh_c", "push_cell", "push_hidden")}
                    assert strobes == {
                        "push_gate": int(act_done == Op.GATES),
                        "push_tanh_c": int(act_done == Op.TANH_C),
                        "push_cell": int(ew_done == Op.CELL),
                        "push_hidden": int(ew_done == Op.HIDDEN),
                    }, (act_done, ew_done, strobes)
                    checked["act_done"].add(act_done)
                    checked["ew_done"].add(ew_done)

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert all(checked[key] == set(ALL_CODES) for key in checked)


def test_gates_passes_each_units_own_function():
    """The GATES candidate hands unit a its own function bit (not a broadcast of one
    unit's); the TANH_C candidate is always TANH."""
    config = CONFIGS["A4E2-d8"]
    dut = Interconnect(config=config)

    async def testbench(ctx):
        for route in (Op.GATES, Op.TANH_C):
            ctx.set(dut.act_route, route)
            for pattern in range(1 << config.activation_units):
                ctx.set(dut.pre_func, pattern)
                funcs = list(ctx.get(dut.act_func))
                assert [f >> ACT_PRE & 1 for f in funcs] == [
                    pattern >> a & 1 for a in range(config.activation_units)]
                assert all(f >> ACT_CELL & 1 == TANH for f in funcs)

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
