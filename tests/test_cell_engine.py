"""The cell engine driven directly (no lanes): contexts from the expansion model, random
pre-activation codes, (h, c) of every unit against steps 4 and 5 of the fixed-point LSTM.

The reference is written here with numpy from :mod:`lstm_ref` primitives: for unit ``u`` of
group ``g`` (hidden unit ``k = g*U + u``) with pre-activations at lanes ``gate*U + u``
(gates i, f, g, o):

    i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_g)          (activation_fixed)
    c = narrow(f * c_prev + i * g, F);  h = narrow(o * tanh(c), F)

with ``c_prev = 0`` when the run is started with ``zero_state`` and otherwise the ``c`` the
engine last computed for unit ``k``. Units ``k >= H`` are padding: they are never emitted nor
written to the hidden-state memory (at ``bank * padded_hidden + k``).

Timing is measured in enabled cycles, counting the cycle in which ``start`` is taken as 0:
``done`` must pulse in cycle ``sum(context cycles)``, i.e. the start cycle through the done
cycle span ``sum + 1`` cycles; the ``u``-th EMIT comes in cycle ``1 + (cycles of the contexts
before EMIT) + u``.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from lstm_ref.activation import SIGMOID, TANH, activation_fixed
from lstm_ref.fixedpoint import narrow
from rpu.cell_engine import CellEngine
from rpu.config import RPUConfig
from rpu.expansion import plan_schedule
from rpu.program import Op, MAX_CONTEXTS, encode_context


CASES = {
    # (config, program I, program H)
    "U2-A1E1": (RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                          activation_units=1, elementwise_units=1), 3, 5),
    "U2-A2E1": (RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                          activation_units=2, elementwise_units=1), 2, 3),
    "U4-A2E4": (RPUConfig(input_size=4, hidden_size=7, pim_arrays=2, lanes_per_array=8,
                          activation_units=2, elementwise_units=4), 4, 6),
    # One integer bit: c saturates after a few runs of the same group.
    "U3-A3E3-d8": (RPUConfig(input_size=2, hidden_size=6, pim_arrays=1, lanes_per_array=12,
                             activation_units=3, elementwise_units=3, data_width=8,
                             data_frac_bits=6, activation_segments=16), 2, 5),
}


class Reference:
    """Steps 4 and 5 of lstm_ref/fixed_lstm.py for one row group, with a cell memory."""

    def __init__(self, config, hidden_size):
        self.config = config
        self.H = hidden_size
        self.cell = {}

    def run(self, group, zero_state, pre):
        config = self.config
        fmt, F = config.data_format, config.data_frac_bits
        seg = config.activation_segments
        U = config.units_per_group
        pre = np.asarray(pre, dtype=np.int64).reshape(4, U)
        i = activation_fixed(SIGMOID, pre[0], fmt, seg)
        f = activation_fixed(SIGMOID, pre[1], fmt, seg)
        g = activation_fixed(TANH, pre[2], fmt, seg)
        o = activation_fixed(SIGMOID, pre[3], fmt, seg)
        ks = [group * U + u for u in range(U)]
        if zero_state:
            c_prev = np.zeros(U, dtype=np.int64)
        else:
            c_prev = np.array([self.cell[k] for k in ks], dtype=np.int64)
        c, c_sat = narrow(f * c_prev + i * g, F, fmt)
        h, h_sat = narrow(o * activation_fixed(TANH, c, fmt, seg), F, fmt)
        for k, value in zip(ks, c):
            self.cell[k] = int(value)
        real = np.array(ks) < self.H
        emits = [(int(h[u]), int(c[u]), k) for u, k in enumerate(ks) if k < self.H]
        saturations = int((c_sat & real).sum() + (h_sat & real).sum())
        return emits, saturations


def context_words(schedule):
    words = [encode_context(op, cycles) for op, cycles in schedule.contexts]
    return words + [0] * (MAX_CONTEXTS - len(words))


def emit_offset(contexts):
    offset = 0
    for op, cycles in contexts:
        if op == Op.EMIT:
            return offset
        offset += cycles
    raise AssertionError("no EMIT context")


def simulate(config, I, H, jobs, *, seed, stall_prob=0.0):
    """Run ``jobs`` (dicts: group, bank, zero_state, pre, delay) on one engine.

    ``delay`` is the number of idle cycles between the previous ``done`` and this ``start``
    (0: start in the cycle right after done). Returns per job a dict with the enabled-cycle
    index of done and of every EMIT (relative to the start cycle), the emitted
    (h, c, h_wr_addr, h_wr_data) and the sum of ``saturations``.
    """
    rng = np.random.default_rng(seed)
    schedule = plan_schedule(config, I, H)
    dut = CellEngine(config=config)
    fmt = config.data_format
    n_lanes = config.mac_lanes
    results = []

    async def testbench(ctx):
        ctx.set(dut.hidden_size, H)
        ctx.set(dut.n_contexts, len(schedule.contexts))
        ctx.set(dut.contexts, context_words(schedule))

        def scramble():
            ctx.set(dut.pre, rng.integers(fmt.min_code, fmt.max_code + 1,
                                          size=n_lanes).tolist())
            ctx.set(dut.group, int(rng.integers(0, config.max_groups)))
            ctx.set(dut.bank, int(rng.integers(0, 2)))
            ctx.set(dut.zero_state, int(rng.integers(0, 2)))

        async def cycle(*, enabled):
            ctx.set(dut.en, int(enabled))
            return await ctx.tick().sample(
                dut.busy, dut.done, dut.loading, dut.emit, dut.emit_h, dut.emit_c,
                dut.h_wr_addr, dut.h_wr_data, dut.h_wr_en, dut.saturations)

        def stall():
            return bool(stall_prob) and rng.random() < stall_prob

        scramble()
        for job in jobs:
            # Idle cycles (start low, inputs random).
            idle = 0
            while idle < job["delay"]:
                enabled = not stall()
                _, _, busy, done, loading, _, _, _, _, _, wr_en, _ = await cycle(
                    enabled=enabled)
                assert (busy, done, loading, wr_en) == (0, 0, 0, 0)
                idle += enabled
            # Start: held until an enabled edge takes it.
            ctx.set(dut.start, 1)
            ctx.set(dut.group, job["group"])
            ctx.set(dut.bank, job["bank"])
            ctx.set(dut.zero_state, job["zero_state"])
            ctx.set(dut.pre, list(job["pre"]))
            while True:
                enabled = not stall()
                _, _, busy, done, *_ = await cycle(enabled=enabled)
                assert busy == 0 and done == 0
                if enabled:
                    break
            ctx.set(dut.start, 0)
            ctx.set(dut.group, int(rng.integers(0, config.max_groups)))
            ctx.set(dut.bank, int(rng.integers(0, 2)))
            ctx.set(dut.zero_state, int(rng.integers(0, 2)))
            record = {"emits": [], "emit_cycles": [], "saturations": 0, "load_cycles": []}
            index = 0          # enabled cycles since the start cycle
            while True:
                enabled = not stall()
                (_, _, busy, done, loading, emit, emit_h, emit_c, wr_addr, wr_data, wr_en,
                 saturations) = await cycle(enabled=enabled)
                if not enabled:
                    # (saturations is not gated by en: the RPU counts it in enabled cycles.)
                    assert (done, loading, wr_en) == (0, 0, 0), "activity in a stalled cycle"
                    continue
                index += 1
                assert busy == 1, f"not busy in enabled cycle {index} after start"
                if loading:
                    record["load_cycles"].append(index)
                    # pre is sampled now; from the next cycle on it must not matter.
                    ctx.set(dut.pre, rng.integers(fmt.min_code, fmt.max_code + 1,
                                                  size=n_lanes).tolist())
                assert wr_en == emit, (index, wr_en, emit)
                if emit:
                    record["emits"].append((emit_h, emit_c, wr_addr, wr_data))
                    record["emit_cycles"].append(index)
                record["saturations"] += saturations
                if done:
                    record["done"] = index
                    break
            results.append(record)
        # After the last done the engine is idle.
        for _ in range(3):
            _, _, busy, done, _, _, _, _, _, _, wr_en, _ = await cycle(enabled=True)
            assert (busy, done, wr_en) == (0, 0, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return schedule, results


def make_jobs(config, H, rng, *, extra_runs=4, bias=None):
    """Both the first and the last group (with padding units, if any), each started from zero
    and then continued, interleaved; then further runs of random groups."""
    fmt = config.data_format
    groups = -(-H // config.units_per_group)
    last = groups - 1

    def pre():
        codes = rng.integers(fmt.min_code, fmt.max_code + 1, size=config.mac_lanes)
        if bias is not None:
            codes = bias(codes)
        return codes.tolist()

    jobs = [
        dict(group=0, bank=0, zero_state=1),
        dict(group=last, bank=1, zero_state=1),
        dict(group=0, bank=1, zero_state=0),     # c_prev written by job 0
        dict(group=last, bank=0, zero_state=0),  # c_prev written by job 1
        # A new run from zero while the cell memory holds non-zero c of the group.
        dict(group=0, bank=0, zero_state=1),
        dict(group=0, bank=1, zero_state=0),
    ]
    written = {0, last}
    for _ in range(extra_runs):
        group = int(rng.integers(0, groups))
        # A group never run before starts from zero; the others continue.
        jobs.append(dict(group=group, bank=int(rng.integers(0, 2)),
                         zero_state=int(group not in written)))
        written.add(group)
    for job in jobs:
        job["pre"] = pre()
        job["delay"] = int(rng.choice([0, 0, 1, 3]))
    return jobs


def check(config, I, H, jobs, schedule, results):
    ref = Reference(config, H)
    engine_cycles = sum(cycles for _, cycles in schedule.contexts)
    offset = emit_offset(schedule.contexts)
    total_saturations = 0
    for number, (job, record) in enumerate(zip(jobs, results)):
        emits, saturations = ref.run(job["group"], job["zero_state"], job["pre"])
        total_saturations += saturations
        want = [(h, c, job["bank"] * config.padded_hidden + k, h) for h, c, k in emits]
        assert record["emits"] == want, (
            f"job {number} (group {job['group']}, bank {job['bank']}, zero_state "
            f"{job['zero_state']}): emitted (h, c, h_wr_addr, h_wr_data) {record['emits']}, "
            f"expected {want}")
        assert record["saturations"] == saturations, (number, record["saturations"],
                                                      saturations)
        # Start cycle = 0 ... done cycle = engine_cycles: engine_cycles + 1 cycles in all.
        assert record["done"] + 1 == engine_cycles + 1, (
            f"job {number}: start to done spans {record['done'] + 1} cycles, expected "
            f"sum of context cycles + 1 = {engine_cycles + 1}")
        assert record["load_cycles"] == [1]
        assert record["emit_cycles"] == [1 + offset + u for u in range(len(emits))]
    return total_saturations


@pytest.mark.parametrize("name", list(CASES))
def test_groups_against_reference(name):
    config, I, H = CASES[name]
    rng = np.random.default_rng(list(CASES).index(name) + 20)
    jobs = make_jobs(config, H, rng)
    schedule, results = simulate(config, I, H, jobs, seed=1)
    check(config, I, H, jobs, schedule, results)
    # The last group of each case has padding units, which must not be emitted.
    assert H % config.units_per_group != 0
    assert len(results[1]["emits"]) == H % config.units_per_group


@pytest.mark.parametrize("name", ["U2-A1E1", "U4-A2E4"])
def test_random_stalls(name):
    config, I, H = CASES[name]
    rng = np.random.default_rng(40)
    jobs = make_jobs(config, H, rng, extra_runs=2)
    schedule, results = simulate(config, I, H, jobs, seed=2, stall_prob=0.35)
    check(config, I, H, jobs, schedule, results)


def test_cell_saturation_counted():
    """Runs of the same group with f, i and g near 1 push c past the format's range (one
    integer bit); the saturations output counts those of real units only."""
    config, I, H = CASES["U3-A3E3-d8"]
    U = config.units_per_group
    fmt = config.data_format
    rng = np.random.default_rng(50)

    def push_up(codes):
        codes = codes.copy()
        # Gates i, f, g of every unit large and positive (sign of the run alternates below).
        codes[:3 * U] = rng.integers(fmt.max_code // 2, fmt.max_code + 1, size=3 * U)
        return codes

    jobs = []
    for run in range(6):
        for group in (0, 1):
            jobs.append(dict(group=group, bank=run % 2, zero_state=int(run == 0),
                             pre=push_up(rng.integers(fmt.min_code, fmt.max_code + 1,
                                                      size=config.mac_lanes)).tolist(),
                             delay=0))
    schedule, results = simulate(config, I, H, jobs, seed=3)
    total = check(config, I, H, jobs, schedule, results)
    assert total > 0
    # Units of group 1 beyond H saturate too but are not counted: the reference agrees only
    # if the engine masks them, and there are such units here.
    assert H < 2 * U


def test_back_to_back_start_period():
    """A start in the cycle right after done is taken: starts engine_cycles + 1 apart."""
    config, I, H = CASES["U2-A1E1"]
    rng = np.random.default_rng(60)
    jobs = make_jobs(config, H, rng, extra_runs=0)
    for job in jobs:
        job["delay"] = 0
    schedule, results = simulate(config, I, H, jobs, seed=4)
    check(config, I, H, jobs, schedule, results)
    assert schedule.group_period >= schedule.engine_cycles + 1
