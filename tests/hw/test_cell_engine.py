"""The cell engine driven directly (no lanes): contexts from the expansion model, random
pre-activation codes, (h, c) of every unit against steps 4 and 5 of the fixed-point LSTM.

The reference is written here with numpy from :mod:`lstm_ref` primitives: for unit ``u`` of
group ``g`` of layer ``l`` (hidden unit ``k = g*U + u``) with pre-activations at lanes
``gate*U + u`` (gates i, f, g, o):

    i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_g)          (activation_fixed)
    c = narrow(f * c_prev * 2**s + i * g, F + s)    into the cell format (C fractional bits)
    h = narrow(o * tanh(saturate(c * 2**s)), F)     into the data format (F fractional bits)

(``s = F - C``; ``s = 0`` unless the configuration sets ``cell_frac_bits``)

with ``c_prev = 0`` when the group is started with ``zero_state`` and otherwise the word of
layer ``l``'s cell-memory region for unit ``k``: the ``c`` the engine last computed for
``(l, k)``, or what the state port wrote there while the engine was idle (word
``l * cell_words + k // E``, field ``k % E``, as :meth:`rpu.compiler.codegen.Program.state_words`
and :class:`rpu.hw.top.RPU` lay a state out). Units ``k >= H`` (H: ``hidden_size`` sampled at the
start) are padding: they are never emitted nor written to the hidden-state memory, which a
real unit is at ``l * 2 * padded_hidden + bank * padded_hidden + k``. ``emit_stream`` is
``emit`` of a group started with ``output``. All inputs of a group are sampled with ``start``.

Timing is measured in enabled cycles, counting the cycle in which ``start`` is taken as 0:
``done`` must pulse in cycle ``sum(context cycles)``, i.e. the start cycle through the done
cycle span ``sum + 1`` cycles; the ``u``-th EMIT comes in cycle ``1 + (cycles of the contexts
before EMIT) + u``. Over a group the activity flags count: ``activations`` GATES + TANH_C
cycles, ``elementwise`` CELL + HIDDEN cycles, ``cell_read`` CELL cycles, ``cell_write``
``U / E`` words; none is raised in a stalled or idle cycle.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from lstm_ref.activation import SIGMOID, TANH, activation_fixed
from lstm_ref.fixedpoint import narrow, saturate
from rpu.hw.cell_engine import CellEngine
from rpu.config import RPUConfig
from rpu.compiler import plan_schedule
from rpu.hw.program import Op, MAX_CONTEXTS, encode_context


CASES = {
    # (config, program I, program H per layer)
    "U2-A1E1": (RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                          activation_units=1, elementwise_units=1), 3, [5]),
    "U2-A2E1": (RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                          activation_units=2, elementwise_units=1), 2, [3]),
    "U4-A2E4": (RPUConfig(input_size=4, hidden_size=7, pim_arrays=2, lanes_per_array=8,
                          activation_units=2, elementwise_units=4), 4, [6]),
    # One integer bit: c saturates after a few runs of the same group.
    "U3-A3E3-d8": (RPUConfig(input_size=2, hidden_size=6, pim_arrays=1, lanes_per_array=12,
                             activation_units=3, elementwise_units=3, data_width=8,
                             data_frac_bits=6, activation_segments=16), 2, [5]),
    # Stacks: layers of different sizes in their own state regions.
    "L3-U2-A1E1": (RPUConfig(input_size=3, hidden_size=7, pim_arrays=1, lanes_per_array=8,
                             activation_units=1, elementwise_units=1, num_layers=3),
                   3, [5, 7, 3]),
    "L2-U4-A2E2": (RPUConfig(input_size=4, hidden_size=10, pim_arrays=2, lanes_per_array=8,
                             activation_units=2, elementwise_units=2, num_layers=2),
                   4, [10, 6]),
    # Cell state with fewer fractional bits than the data (more range).
    "L2-U2-A1E1-c9": (RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                                activation_units=1, elementwise_units=1, num_layers=2,
                                cell_frac_bits=9), 3, [5, 3]),
    "U3-A3E3-d8-c4": (RPUConfig(input_size=2, hidden_size=6, pim_arrays=1, lanes_per_array=12,
                                activation_units=3, elementwise_units=3, data_width=8,
                                data_frac_bits=6, cell_frac_bits=4, activation_segments=16),
                      2, [5]),
}

ACTIVITY = ("activations", "elementwise", "cell_read", "cell_write")


class Reference:
    """Steps 4 and 5 of lstm_ref/fixed_lstm.py for one row group, with a cell memory per
    layer (zero at reset)."""

    def __init__(self, config):
        self.config = config
        self.cell = {}          # (layer, k) -> c code

    def write_state(self, address, data):
        """A word written through the state port."""
        config = self.config
        E, W = config.elementwise_units, config.data_width
        layer, index = divmod(address, config.cell_words)
        for e in range(E):
            field = (data >> (e * W)) & ((1 << W) - 1)
            self.cell[(layer, index * E + e)] = field - (1 << W) if field >> (W - 1) else field

    def run(self, layer, group, zero_state, pre, hidden_size):
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
            c_prev = np.array([self.cell.get((layer, k), 0) for k in ks], dtype=np.int64)
        shift = F - config.cell_frac_bits
        c, c_sat = narrow((f * c_prev << shift) + i * g, F + shift, config.cell_format)
        tanh_c = activation_fixed(TANH, saturate(c << shift, fmt), fmt, seg)
        h, h_sat = narrow(o * tanh_c, F, fmt)
        for k, value in zip(ks, c):
            self.cell[(layer, k)] = int(value)
        real = np.array(ks) < hidden_size
        emits = [(int(h[u]), int(c[u]), k) for u, k in enumerate(ks) if k < hidden_size]
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


def expected_activity(config, contexts):
    """Per group, from the contexts: the activity flags' counts."""
    cycles = {op: 0 for op in Op}
    for op, n in contexts:
        cycles[op] += n
    return {"activations": cycles[Op.GATES] + cycles[Op.TANH_C],
            "elementwise": cycles[Op.CELL] + cycles[Op.HIDDEN],
            "cell_read": cycles[Op.CELL],
            "cell_write": config.units_per_group // config.elementwise_units}


def schedule_of(name):
    config, I, hiddens = CASES[name]
    return config, plan_schedule(config, I, hiddens)


OUTPUTS = ("busy", "done", "loading", "emit", "emit_stream", "emit_h", "emit_c", "h_wr_addr",
           "h_wr_data", "h_wr_en", "saturations")


def simulate(config, schedule, jobs, *, seed, stall_prob=0.0, after_start=None):
    """Run ``jobs`` (dicts: layer, group, bank, zero_state, hidden_size, output, pre, delay,
    and optionally state: ``(address, data)`` words written through the state port in the
    idle cycles before the start) on one engine.

    ``delay`` is the number of idle cycles between the previous ``done`` (or the last state
    write) and this ``start`` (0: start in the cycle right after). After each start the group
    inputs are set to random values, or to ``after_start(job)`` (a dict) if given. Returns
    per job a dict with the enabled-cycle index of done and of every EMIT (relative to the
    start cycle), the emitted (h, c, h_wr_addr, h_wr_data, emit_stream), the sum of
    ``saturations`` and the counts of the activity flags.
    """
    rng = np.random.default_rng(seed)
    dut = CellEngine(config=config)
    fmt = config.data_format
    n_lanes = config.mac_lanes
    signals = [getattr(dut, name) for name in OUTPUTS] + \
              [getattr(dut.activity, name) for name in ACTIVITY]
    names = OUTPUTS + ACTIVITY
    results = []

    async def testbench(ctx):
        ctx.set(dut.n_contexts, len(schedule.contexts))
        ctx.set(dut.contexts, context_words(schedule))

        def random_pre():
            return rng.integers(fmt.min_code, fmt.max_code + 1, size=n_lanes).tolist()

        def scramble():
            ctx.set(dut.pre, random_pre())
            ctx.set(dut.layer, int(rng.integers(0, config.num_layers)))
            ctx.set(dut.group, int(rng.integers(0, config.max_groups)))
            ctx.set(dut.bank, int(rng.integers(0, 2)))
            ctx.set(dut.zero_state, int(rng.integers(0, 2)))
            ctx.set(dut.hidden_size, int(rng.integers(0, config.hidden_size + 1)))
            ctx.set(dut.output, int(rng.integers(0, 2)))
            # The state port is not enabled: its address and data must not matter.
            ctx.set(dut.state_addr, int(rng.integers(0, config.cell_memory_depth)))
            ctx.set(dut.state_data, sum(int(rng.integers(0, 1 << config.data_width)) << (
                e * config.data_width) for e in range(config.elementwise_units)))

        async def cycle(*, enabled):
            ctx.set(dut.en, int(enabled))
            values = await ctx.tick().sample(*signals)
            return dict(zip(names, (int(v) for v in values[2:])))

        def assert_idle(out):
            assert (out["busy"], out["done"], out["loading"], out["h_wr_en"]) == (0, 0, 0, 0)
            assert all(out[name] == 0 for name in ACTIVITY), out

        def stall():
            return bool(stall_prob) and rng.random() < stall_prob

        scramble()
        for job in jobs:
            # State words through the port (enabled cycles, the engine idle).
            for address, data in job.get("state", ()):
                ctx.set(dut.state_addr, address)
                ctx.set(dut.state_data, data)
                ctx.set(dut.state_en, 1)
                assert_idle(await cycle(enabled=True))
            ctx.set(dut.state_en, 0)
            # Idle cycles (start low, inputs random).
            idle = 0
            while idle < job["delay"]:
                enabled = not stall()
                assert_idle(await cycle(enabled=enabled))
                idle += enabled
            # Start: held until an enabled edge takes it.
            ctx.set(dut.start, 1)
            for name in ("layer", "group", "bank", "zero_state", "hidden_size", "output"):
                ctx.set(getattr(dut, name), job[name])
            ctx.set(dut.pre, list(job["pre"]))
            while True:
                enabled = not stall()
                out = await cycle(enabled=enabled)
                assert out["busy"] == 0 and out["done"] == 0
                if enabled:
                    break
            ctx.set(dut.start, 0)
            scramble()
            ctx.set(dut.pre, list(job["pre"]))      # until LOAD has sampled it
            if after_start is not None:
                for name, value in after_start(job).items():
                    ctx.set(getattr(dut, name), value)
            record = {"emits": [], "emit_cycles": [], "saturations": 0, "load_cycles": [],
                      "activity": dict.fromkeys(ACTIVITY, 0)}
            index = 0          # enabled cycles since the start cycle
            while True:
                enabled = not stall()
                out = await cycle(enabled=enabled)
                if not enabled:
                    # (saturations and emit are not gated by en: the RPU counts and takes
                    # them in enabled cycles only.)
                    assert (out["done"], out["loading"], out["h_wr_en"]) == (0, 0, 0), \
                        "activity in a stalled cycle"
                    assert all(out[name] == 0 for name in ACTIVITY), out
                    continue
                index += 1
                assert out["busy"] == 1, f"not busy in enabled cycle {index} after start"
                if out["loading"]:
                    record["load_cycles"].append(index)
                    # pre is sampled now; from the next cycle on it must not matter.
                    ctx.set(dut.pre, random_pre())
                assert out["h_wr_en"] == out["emit"], (index, out)
                assert out["emit_stream"] == out["emit"] & job["output"], (index, out)
                if out["emit"]:
                    record["emits"].append((out["emit_h"], out["emit_c"], out["h_wr_addr"],
                                            out["h_wr_data"], out["emit_stream"]))
                    record["emit_cycles"].append(index)
                record["saturations"] += out["saturations"]
                for name in ACTIVITY:
                    record["activity"][name] += out[name]
                if out["done"]:
                    record["done"] = index
                    break
            results.append(record)
        # After the last done the engine is idle.
        for _ in range(3):
            assert_idle(await cycle(enabled=True))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


def make_jobs(config, hiddens, rng, *, extra_runs=4, bias=None):
    """For every layer, both its first and its last group (with padding units, if any), each
    started from zero and then continued, the layers interleaved; then further runs of random
    groups of random layers. ``output`` is random (both values occur)."""
    fmt = config.data_format
    U = config.units_per_group

    def pre():
        codes = rng.integers(fmt.min_code, fmt.max_code + 1, size=config.mac_lanes)
        if bias is not None:
            codes = bias(codes)
        return codes.tolist()

    lasts = [-(-H // U) - 1 for H in hiddens]
    phases = [
        ("first", 0, 1), ("last", 1, 1),
        ("first", 1, 0),      # c_prev written by the first phase
        ("last", 0, 0),       # c_prev written by the second phase
        # A new run from zero while the cell memory holds non-zero c of the group.
        ("first", 0, 1), ("first", 1, 0),
    ]
    jobs = []
    for which, bank, zero_state in phases:
        for layer, last in enumerate(lasts):
            jobs.append(dict(layer=layer, group=0 if which == "first" else last, bank=bank,
                             zero_state=zero_state))
    written = {(layer, group) for layer, last in enumerate(lasts) for group in (0, last)}
    for _ in range(extra_runs):
        layer = int(rng.integers(0, len(hiddens)))
        group = int(rng.integers(0, lasts[layer] + 1))
        # A group never run before starts from zero; the others continue.
        jobs.append(dict(layer=layer, group=group, bank=int(rng.integers(0, 2)),
                         zero_state=int((layer, group) not in written)))
        written.add((layer, group))
    for number, job in enumerate(jobs):
        job["hidden_size"] = hiddens[job["layer"]]
        job["output"] = number % 2 if number < 2 else int(rng.integers(0, 2))
        job["pre"] = pre()
        job["delay"] = int(rng.choice([0, 0, 1, 3]))
    return jobs


def check(config, schedule, jobs, results):
    """Every job against the reference; returns the saturations and the references' c per
    job."""
    ref = Reference(config)
    engine_cycles = sum(cycles for _, cycles in schedule.contexts)
    assert engine_cycles == schedule.engine_cycles
    offset = emit_offset(schedule.contexts)
    activity = expected_activity(config, schedule.contexts)
    half = config.padded_hidden
    total_saturations = 0
    for number, (job, record) in enumerate(zip(jobs, results)):
        for address, data in job.get("state", ()):
            ref.write_state(address, data)
        emits, saturations = ref.run(job["layer"], job["group"], job["zero_state"], job["pre"],
                                     job["hidden_size"])
        total_saturations += saturations
        want = [(h, c, job["layer"] * 2 * half + job["bank"] * half + k, h, job["output"])
                for h, c, k in emits]
        assert record["emits"] == want, (
            f"job {number} (layer {job['layer']}, group {job['group']}, bank {job['bank']}, "
            f"zero_state {job['zero_state']}, output {job['output']}): emitted (h, c, "
            f"h_wr_addr, h_wr_data, emit_stream) {record['emits']}, expected {want}")
        assert record["saturations"] == saturations, (number, record["saturations"],
                                                      saturations)
        # Start cycle = 0 ... done cycle = engine_cycles: engine_cycles + 1 cycles in all.
        assert record["done"] + 1 == engine_cycles + 1, (
            f"job {number}: start to done spans {record['done'] + 1} cycles, expected "
            f"sum of context cycles + 1 = {engine_cycles + 1}")
        assert record["load_cycles"] == [1]
        assert record["emit_cycles"] == [1 + offset + u for u in range(len(emits))]
        assert record["activity"] == activity, (
            f"job {number}: activity {record['activity']}, expected {activity}")
    return total_saturations, ref


@pytest.mark.parametrize("name", list(CASES))
def test_groups_against_reference(name):
    config, schedule = schedule_of(name)
    hiddens = CASES[name][2]
    rng = np.random.default_rng(list(CASES).index(name) + 20)
    jobs = make_jobs(config, hiddens, rng)
    results = simulate(config, schedule, jobs, seed=1)
    check(config, schedule, jobs, results)
    U = config.units_per_group
    # The last group of the first layer has padding units, which must not be emitted.
    assert hiddens[0] % U != 0
    padded = [n for n, job in enumerate(jobs)
              if job["layer"] == 0 and job["group"] == (hiddens[0] - 1) // U]
    assert all(len(results[n]["emits"]) == hiddens[0] % U for n in padded)
    assert {job["output"] for job in jobs} == {0, 1}
    assert any(r["emits"] and not any(e[4] for e in r["emits"]) for r in results), \
        "no group emitted without streaming"


@pytest.mark.parametrize("name", ["U2-A1E1", "U4-A2E4", "L2-U4-A2E2"])
def test_random_stalls(name):
    config, schedule = schedule_of(name)
    rng = np.random.default_rng(40)
    jobs = make_jobs(config, CASES[name][2], rng, extra_runs=2)
    results = simulate(config, schedule, jobs, seed=2, stall_prob=0.35)
    check(config, schedule, jobs, results)


@pytest.mark.parametrize("name", ["L3-U2-A1E1", "L2-U4-A2E2"])
def test_layers_keep_their_own_cell_state(name):
    """Group 0 of layer 0 and group 0 of layer 1 from zero with different pre-activations,
    then both again with zero_state = 0 (and the other way round): each reads back its own c,
    not the other layer's."""
    config, schedule = schedule_of(name)
    hiddens = CASES[name][2]
    fmt = config.data_format
    rng = np.random.default_rng(70)
    jobs = []
    for layer, zero_state, bank in ((0, 1, 0), (1, 1, 0), (0, 0, 1), (1, 0, 1),
                                    (1, 0, 0), (0, 0, 0)):
        jobs.append(dict(layer=layer, group=0, bank=bank, zero_state=zero_state,
                         hidden_size=hiddens[layer], output=1, delay=0,
                         pre=rng.integers(fmt.min_code, fmt.max_code + 1,
                                          size=config.mac_lanes).tolist()))
    results = simulate(config, schedule, jobs, seed=5)
    check(config, schedule, jobs, results)
    # The two layers' c differ, so reading the other layer's region would have shown.
    c_of = [[c for _, c, *_ in result["emits"]] for result in results]
    assert c_of[0] != c_of[1]
    # A cell memory shared by the layers would have given other c for the continued runs.
    shared = Reference(config)
    for job, result in zip(jobs, results):
        emits, _ = shared.run(0, job["group"], job["zero_state"], job["pre"],
                              job["hidden_size"])
        if not job["zero_state"]:
            assert [c for _, c, _ in emits] != [c for _, c, *_ in result["emits"]]


def test_h_addresses_per_layer_and_bank():
    """Every layer writes its h to its own region, in the half its bank selects."""
    name = "L3-U2-A1E1"
    config, schedule = schedule_of(name)
    hiddens = CASES[name][2]
    rng = np.random.default_rng(80)
    jobs = []
    for layer, H in enumerate(hiddens):
        for bank in (0, 1):
            for group in range(-(-H // config.units_per_group)):
                jobs.append(dict(layer=layer, group=group, bank=bank, zero_state=1,
                                 hidden_size=H, output=int(rng.integers(0, 2)), delay=0,
                                 pre=rng.integers(-50, 50, size=config.mac_lanes).tolist()))
    results = simulate(config, schedule, jobs, seed=6)
    check(config, schedule, jobs, results)
    half = config.padded_hidden
    written = {}
    for job, result in zip(jobs, results):
        for _, _, address, _, _ in result["emits"]:
            written.setdefault((job["layer"], job["bank"]), []).append(address)
    for layer, H in enumerate(hiddens):
        for bank in (0, 1):
            base = layer * 2 * half + bank * half
            assert written[(layer, bank)] == list(range(base, base + H))


def test_output_zero_emits_without_streaming():
    """output = 0: h still goes to the h memory (emit, h_wr_en), but not to the stream."""
    name = "L2-U4-A2E2"
    config, schedule = schedule_of(name)
    hiddens = CASES[name][2]
    rng = np.random.default_rng(90)
    jobs = [dict(layer=layer, group=0, bank=0, zero_state=1, hidden_size=hiddens[layer],
                 output=output, delay=0,
                 pre=rng.integers(-100, 100, size=config.mac_lanes).tolist())
            for layer in (0, 1) for output in (0, 1, 0)]
    # The output input flips right after each start: the sampled value counts.
    results = simulate(config, schedule, jobs, seed=7,
                       after_start=lambda job: {"output": 1 - job["output"]})
    check(config, schedule, jobs, results)
    for job, result in zip(jobs, results):
        assert len(result["emits"]) == config.units_per_group
        assert all(e[4] == job["output"] for e in result["emits"])


def test_hidden_size_sampled_at_start():
    """Changing hidden_size right after the start does not change which units are emitted
    (nor which saturations count)."""
    name = "L3-U2-A1E1"
    config, schedule = schedule_of(name)
    U = config.units_per_group
    rng = np.random.default_rng(100)
    jobs = []
    # Last groups of H = 5 and H = 3 (one real unit of two), and a full group of H = 7.
    for layer, H, group in ((0, 5, 2), (2, 3, 1), (1, 7, 0), (0, 5, 2), (2, 3, 1)):
        jobs.append(dict(layer=layer, group=group, bank=1, zero_state=1, hidden_size=H,
                         output=1, delay=0,
                         pre=rng.integers(-200, 200, size=config.mac_lanes).tolist()))
    flip = iter([config.hidden_size, config.hidden_size, 0, (2 * U) - 1, 0])
    results = simulate(config, schedule, jobs, seed=8,
                       after_start=lambda job: {"hidden_size": next(flip)})
    check(config, schedule, jobs, results)
    assert [len(r["emits"]) for r in results] == [1, 1, U, 1, 1]


def test_state_port_writes_read_back_as_c_prev():
    """Words written through the state port while the engine is idle are the c_prev of the
    next group of their layer started with zero_state = 0; a word of another layer at the
    same index does not disturb it, and zero_state = 1 still starts from zero."""
    name = "L2-U4-A2E2"
    config, schedule = schedule_of(name)
    hiddens = CASES[name][2]
    fmt = config.data_format
    E, W, U = config.elementwise_units, config.data_width, config.units_per_group
    rng = np.random.default_rng(110)
    mask = (1 << W) - 1

    def word(codes):
        return sum((int(code) & mask) << (e * W) for e, code in enumerate(codes))

    def state_of(layer, group, codes):
        base = layer * config.cell_words + group * (U // E)
        return [(base + n, word(codes[n * E:(n + 1) * E])) for n in range(U // E)]

    def remember():
        # f near 1, i near 0: c stays close to c_prev.
        z = rng.integers(fmt.min_code, fmt.max_code + 1, size=config.mac_lanes)
        z[U:2 * U] = fmt.max_code
        z[:U] = fmt.min_code
        return z.tolist()

    c0 = rng.integers(fmt.min_code // 2, fmt.max_code // 2, size=U)
    c1 = rng.integers(fmt.min_code // 2, fmt.max_code // 2, size=U)
    c2 = rng.integers(fmt.min_code // 2, fmt.max_code // 2, size=U)
    jobs = [
        # Layer 0 group 1 and layer 1 group 1 loaded (same index within their regions).
        dict(layer=0, group=1, bank=0, zero_state=0, state=state_of(0, 1, c0)
             + state_of(1, 1, c1)),
        dict(layer=1, group=1, bank=0, zero_state=0),
        # Loaded, then a group from zero: the load does not matter.
        dict(layer=0, group=2, bank=1, zero_state=1, state=state_of(0, 2, c2)),
        # Loaded over a computed c.
        dict(layer=1, group=1, bank=1, zero_state=0, state=state_of(1, 1, c2)),
    ]
    for job in jobs:
        job.update(hidden_size=hiddens[job["layer"]], output=1, delay=1, pre=remember())
    results = simulate(config, schedule, jobs, seed=9)
    check(config, schedule, jobs, results)
    # Independently of the reference's state model: c stays near the loaded c_prev.
    one = 1 << config.data_frac_bits
    for result, loaded in zip([results[0], results[1], results[3]], [c0, c1, c2]):
        c = np.array([c for _, c, *_ in result["emits"]])
        k = len(c)
        assert np.all(np.abs(c - loaded[:k]) <= one // 8 + abs(loaded[:k]) // 16), (c, loaded)


def test_activity_counts_per_group():
    """The activity flags, counted over a group, are what the contexts imply, and per run
    what :meth:`rpu.compiler.schedule.Schedule.activity` predicts from them."""
    for name in CASES:
        config, I, hiddens = CASES[name]
        schedule = plan_schedule(config, I, hiddens)
        per_group = expected_activity(config, schedule.contexts)
        U = config.units_per_group
        A, E = config.activation_units, config.elementwise_units
        assert per_group == {"activations": 4 * U // A + U // A,
                             "elementwise": 2 * U // E, "cell_read": U // E,
                             "cell_write": U // E}
        predicted = schedule.activity(3)
        groups = sum(layer.groups for layer in schedule.layers)
        assert predicted["activation_cycles"] == 3 * groups * per_group["activations"]
        assert predicted["elementwise_cycles"] == 3 * groups * per_group["elementwise"]
        assert predicted["cell_reads"] == 3 * groups * per_group["cell_read"]
        assert predicted["cell_writes"] == 3 * groups * per_group["cell_write"]
    # The simulated counts are checked for every group in check(); here with stalls and
    # back-to-back starts.
    config, schedule = schedule_of("U4-A2E4")
    rng = np.random.default_rng(120)
    jobs = make_jobs(config, CASES["U4-A2E4"][2], rng, extra_runs=0)
    for job in jobs:
        job["delay"] = 0
    results = simulate(config, schedule, jobs, seed=10, stall_prob=0.3)
    check(config, schedule, jobs, results)


@pytest.mark.parametrize("name", ["U3-A3E3-d8", "U3-A3E3-d8-c4"])
def test_cell_saturation_counted(name):
    """Runs of the same group with f, i and g near 1 push c past the data format's range (one
    integer bit): it saturates there, and with a cell format of three integer bits c goes
    further (tanh then takes it saturated into the data format). The saturations output
    counts those of real units only."""
    config, schedule = schedule_of(name)
    H = CASES[name][2][0]
    U = config.units_per_group
    fmt = config.data_format
    rng = np.random.default_rng(50)

    def push_up(codes):
        codes = codes.copy()
        # Gates i, f, g of every unit large and positive (sign of the run alternates below).
        codes[:3 * U] = rng.integers(fmt.max_code // 2, fmt.max_code + 1, size=3 * U)
        return codes

    jobs = []
    for run in range(10):
        for group in (0, 1):
            jobs.append(dict(layer=0, group=group, bank=run % 2, zero_state=int(run == 0),
                             hidden_size=H, output=1,
                             pre=push_up(rng.integers(fmt.min_code, fmt.max_code + 1,
                                                      size=config.mac_lanes)).tolist(),
                             delay=0))
    results = simulate(config, schedule, jobs, seed=3)
    total, _ = check(config, schedule, jobs, results)
    c_max = max(c for result in results for _, c, *_ in result["emits"])
    c_value = c_max / (1 << config.cell_frac_bits)
    if config.cell_frac_bits < config.data_frac_bits:
        assert c_value > fmt.max_value, c_value      # beyond the data format's range
    else:
        assert c_max == fmt.max_code and total > 0
    # Units of group 1 beyond H saturate too but are not counted: the reference agrees only
    # if the engine masks them, and there are such units here.
    assert H < 2 * U


def test_back_to_back_start_period():
    """A start in the cycle right after done is taken: starts engine_cycles + 1 apart."""
    config, schedule = schedule_of("U2-A1E1")
    rng = np.random.default_rng(60)
    jobs = make_jobs(config, CASES["U2-A1E1"][2], rng, extra_runs=0)
    for job in jobs:
        job["delay"] = 0
    results = simulate(config, schedule, jobs, seed=4)
    check(config, schedule, jobs, results)
    assert schedule.group_period >= schedule.engine_cycles + 1
