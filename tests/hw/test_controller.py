"""The controller in simulation against an independent enumeration of its documented
schedule, for single layers and stacks of layers.

From the module docstrings of :mod:`rpu.controller` and :mod:`rpu.program`, counting the cycle
in which ``start`` is taken as cycle 0 (in enabled cycles): a step runs the layers
FIRST_LAYER .. LAST_LAYER in order, layer ``l`` taking ``GROUPS_l * PERIOD_l + GAP_l`` cycles;
the step takes the sum over its layers. Column ``j`` of row group ``g`` of layer position
``p`` (layer ``l = FIRST_LAYER + p``) of step ``s`` is issued in cycle
``1 + s * step_cycles + (cycles of the layers before p) + g * PERIOD_l + j`` at weight address
``WEIGHT_BASE_l + g * COLS_l + j``. Column 0 (the bias) takes the constant one; columns
``1 .. I_l`` the layer's input: for the run's first layer x_t (from the input stream in group
0, from the x memory at ``j - 1`` in the others), for a later layer the previous layer's h_t
from the hidden-state memory at ``(l - 1) * 2 * padded_hidden + bank * padded_hidden + j - 1``
(the half this step writes, whatever the zero state); columns ``I_l + 1 .. I_l + H_l`` the
layer's own h_{t-1} at ``l * 2 * padded_hidden + (1 - bank) * padded_hidden + k`` with
``k = j - 1 - I_l``, or zero in step 0 of a run that does not keep its state. Each step writes
the other half (``bank``) than the step before (across runs too, so a run that keeps its state
reads what the last step of the previous run wrote). ``busy`` is high from cycle 1 through the
last cycle of the last step, including its last layer's gap. ``steps`` and ``keep_state`` are
sampled with ``start``. The x and hidden-state memories are addressed (``x_read_addr``,
``h_read_addr``) READ_AHEAD enabled cycles before the column that takes their word is issued;
an x word from the input stream is stored at ``x_addr`` in its column's issue cycle.
"""

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.sim import Simulator

from rpu.config import RPUConfig
from rpu.hw.controller import Controller, Source, layer_registers, READ_AHEAD
from rpu.compiler import plan_schedule


SMALL = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                  activation_units=1, elementwise_units=1)
WIDE = RPUConfig(input_size=20, hidden_size=12, pim_arrays=1, lanes_per_array=16,
                 activation_units=2, elementwise_units=4)
# Stacks: max_layer_input 7, max_columns 15, max_groups 4, padded_hidden 8.
STACK3 = RPUConfig(input_size=3, hidden_size=7, pim_arrays=1, lanes_per_array=8,
                   activation_units=1, elementwise_units=1, num_layers=3)
WIDE2 = RPUConfig(input_size=20, hidden_size=12, pim_arrays=1, lanes_per_array=16,
                  activation_units=2, elementwise_units=4, num_layers=2)

FIELDS = ("input_size", "hidden_size", "columns", "groups", "period", "gap", "weight_base")


def layer(slot, input_size, hidden_size, columns, groups, period, gap, weight_base=0):
    return dict(layer=slot, input_size=input_size, hidden_size=hidden_size, columns=columns,
                groups=groups, period=period, gap=gap, weight_base=weight_base)


def program_of(config, I, H, first_layer=0):
    """Program registers of the expansion model's schedule (H: an int or one per layer)."""
    s = plan_schedule(config, I, H, first_layer=first_layer)
    return dict(first_layer=s.layers[0].layer,
                layers=[layer(L.layer, L.input_size, L.hidden_size, L.columns, L.groups,
                              L.period, L.gap, L.weight_base) for L in s.layers])


def hand(*layers):
    return dict(first_layer=layers[0]["layer"], layers=list(layers))


CASES = {
    # name: (config, program)
    "small-3x5": (SMALL, program_of(SMALL, 3, 5)),       # 3 groups, PERIOD > COLS, GAP > 0
    "small-1x1": (SMALL, program_of(SMALL, 1, 1)),       # one group of 3 columns
    "wide-20x12": (WIDE, program_of(WIDE, 20, 12)),      # PERIOD == COLS, GAP == 0
    "wide-8x8": (WIDE, program_of(WIDE, 8, 8)),          # 2 groups, GAP > 0
    # Hand-written programs: groups back to back, and a long gap.
    "small-packed": (SMALL, hand(layer(0, 3, 5, 9, 3, 9, 0))),
    "small-gap": (SMALL, hand(layer(0, 2, 3, 6, 2, 7, 11))),
    # Stacks from the expansion model.
    "stack-3x5-7-2": (STACK3, program_of(STACK3, 3, [5, 7, 2])),
    "stack-3x6-3": (STACK3, program_of(STACK3, 3, [6, 3])),          # 2 of 3 slots
    "wide2-20x12-9": (WIDE2, program_of(WIDE2, 20, [12, 9])),         # PERIOD == COLS
    "wide2-5x3-12": (WIDE2, program_of(WIDE2, 5, [3, 12])),
    # Runs that start at a later slot: its input comes from the x stream.
    "stack-slot1-5x3-6": (STACK3, program_of(STACK3, 5, [3, 6], first_layer=1)),
    "stack-slot1-7x4": (STACK3, program_of(STACK3, 7, 4, first_layer=1)),   # layer by layer
    "stack-slot2-2x7": (STACK3, program_of(STACK3, 2, 7, first_layer=2)),
    # Hand-written stacks: every group back to back across layers with weight bases out of
    # order; and uneven gaps.
    "stack-packed": (STACK3, hand(layer(0, 3, 3, 7, 2, 7, 0, 100),
                                  layer(1, 3, 4, 8, 2, 8, 0, 7),
                                  layer(2, 4, 1, 6, 1, 6, 0, 40))),
    "wide2-gaps": (WIDE2, hand(layer(0, 2, 5, 8, 2, 10, 3, 0),
                               layer(1, 5, 2, 8, 1, 8, 13, 150))),
}

STACKS = [name for name, (config, _) in CASES.items() if config.num_layers > 1]

#: Runs of every case: (steps, keep_state).
RUNS = [(3, 0), (2, 1), (1, 0), (1, 1)]


def step_cycles(prog):
    return sum(L["groups"] * L["period"] + L["gap"] for L in prog["layers"])


def expected_issues(config, prog, steps, keep_state, first_step):
    """The documented schedule of one run.

    Returns ``issues``: {cycle: (addr, first, last, source, x_addr, h_addr)} with x_addr /
    h_addr None where the source does not use them; ``posts``: {cycle of a group's last
    column: (layer, group, bank, zero)}; and the last busy cycle. ``first_step`` counts the
    steps since reset (for the banks).
    """
    padded = config.padded_hidden
    first_layer = prog["first_layer"]
    per_step = step_cycles(prog)
    issues, posts = {}, {}
    for s in range(steps):
        bank = (first_step + s) % 2
        zero = s == 0 and not keep_state
        offset = 1 + s * per_step
        for L in prog["layers"]:
            l, I, cols = L["layer"], L["input_size"], L["columns"]
            for g in range(L["groups"]):
                for j in range(cols):
                    cycle = offset + g * L["period"] + j
                    x_addr = h_addr = None
                    if j == 0:
                        source = Source.ONE
                    elif j <= I and l == first_layer:
                        source = Source.X_STREAM if g == 0 else Source.X_MEMORY
                        x_addr = j - 1
                    elif j <= I:
                        source = Source.H_MEMORY
                        h_addr = (l - 1) * 2 * padded + bank * padded + (j - 1)
                    elif zero:
                        source = Source.ZERO
                    else:
                        source = Source.H_MEMORY
                        h_addr = l * 2 * padded + (1 - bank) * padded + (j - 1 - I)
                    assert cycle not in issues
                    issues[cycle] = (L["weight_base"] + g * cols + j, j == 0, j == cols - 1,
                                     int(source), x_addr, h_addr)
                    if j == cols - 1:
                        posts[cycle] = (l, g, bank, int(zero))
            offset += L["groups"] * L["period"] + L["gap"]
    busy_until = steps * per_step
    return issues, posts, busy_until


OUTPUTS = ("busy", "valid", "addr", "first", "last", "source", "need_x", "x_addr",
           "x_read_addr", "h_read_addr",
           "bank", "post_layer", "post_group", "post_bank", "post_zero")


def set_program(ctx, dut, config, prog, rng):
    """Program registers of ``prog``; the slots it does not use hold random values (which
    must not matter)."""
    used = {L["layer"]: L for L in prog["layers"]}
    ctx.set(dut.first_layer, prog["first_layer"])
    ctx.set(dut.last_layer, prog["layers"][-1]["layer"])
    layout = layer_registers(config)
    for slot in range(config.num_layers):
        for name in FIELDS:
            if slot in used:
                value = used[slot][name]
            else:
                value = int(rng.integers(0, 1 << Shape.cast(layout[name].shape).width))
            ctx.set(dut.layers[slot][name], value)


def simulate(config, prog, runs, *, seed, stall_prob=0.0, restart_while_busy=False,
             change_after_start=()):
    """Run ``runs`` one after the other; return per run the outputs of every enabled cycle
    from the start cycle (index 0) to a few cycles after busy falls.

    ``restart_while_busy`` raises ``start`` (with other steps/keep_state) in random cycles
    while busy; ``change_after_start`` names the run inputs (``steps``, ``keep_state``) changed
    right after the start is taken. Otherwise they are held for the whole run.
    """
    rng = np.random.default_rng(seed)
    dut = Controller(config=config)
    traces = []

    async def testbench(ctx):
        set_program(ctx, dut, config, prog, rng)

        async def cycle(enabled):
            ctx.set(dut.en, int(enabled))
            values = await ctx.tick().sample(*(getattr(dut, n) for n in OUTPUTS))
            return dict(zip(OUTPUTS, (int(v) for v in values[2:])))

        for steps, keep_state in runs:
            ctx.set(dut.steps, steps)
            ctx.set(dut.keep_state, keep_state)
            ctx.set(dut.start, 1)
            trace, stalled = [], []
            total = None
            while True:
                enabled = not (stall_prob and rng.random() < stall_prob)
                if (trace and restart_while_busy and enabled and ctx.get(dut.busy)
                        and rng.random() < 0.05):
                    ctx.set(dut.start, 1)       # must be ignored while busy
                outputs = await cycle(enabled)
                if not enabled:
                    stalled.append(outputs)
                    continue
                # Stalled cycles show exactly what the next enabled cycle shows.
                for frozen in stalled:
                    assert frozen == outputs, (len(trace), frozen, outputs)
                stalled = []
                trace.append(outputs)
                # The start was taken by the first enabled edge.
                ctx.set(dut.start, 0)
                if len(trace) == 1 and "keep_state" in change_after_start:
                    ctx.set(dut.keep_state, 1 - keep_state)
                if len(trace) == 1 and "steps" in change_after_start:
                    ctx.set(dut.steps, steps + 2)
                if total is None and len(trace) > 1 and not outputs["busy"]:
                    total = len(trace)
                if total is not None and len(trace) >= total + 3:
                    break
                assert len(trace) < 20000, "busy never fell"
            traces.append(trace)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return traces


def check(config, prog, runs, traces):
    first_step = 0
    per_step = step_cycles(prog)
    for number, ((steps, keep_state), trace) in enumerate(zip(runs, traces)):
        issues, posts, busy_until = expected_issues(config, prog, steps, keep_state,
                                                    first_step)
        got = {}
        for index, out in enumerate(trace):
            # busy: low in the start cycle, high in cycles 1 .. busy_until, then low.
            assert out["busy"] == int(1 <= index <= busy_until), (
                f"run {number}: busy={out['busy']} in cycle {index} (busy_until {busy_until})")
            # bank: the half the current step writes (before and after the run: the next
            # step's); it flips once per step, in the step's last cycle.
            step = 0 if index == 0 else min((index - 1) // per_step, steps)
            assert out["bank"] == (first_step + step) % 2, (
                f"run {number}, cycle {index} (step {step}): bank {out['bank']}")
            if out["valid"]:
                source = out["source"]
                # The memories are addressed READ_AHEAD enabled cycles before the issue;
                # an x word from the stream is written at the issue's x_addr.
                ahead = trace[index - READ_AHEAD]
                got[index] = (out["addr"], bool(out["first"]), bool(out["last"]), source,
                              out["x_addr"] if source == Source.X_STREAM
                              else ahead["x_read_addr"] if source == Source.X_MEMORY
                              else None,
                              ahead["h_read_addr"] if source == Source.H_MEMORY else None)
                assert out["need_x"] == int(source == Source.X_STREAM), (index, out)
            else:
                assert out["need_x"] == 0, (index, out)
        flips = sum(a["bank"] != b["bank"] for a, b in zip(trace, trace[1:]))
        assert flips == steps, f"run {number}: bank flipped {flips} times in {steps} steps"
        assert sorted(got) == sorted(issues), (
            f"run {number}: issue cycles {sorted(set(got) ^ set(issues))[:10]} differ")
        for cycle in sorted(issues):
            assert got[cycle] == issues[cycle], (
                f"run {number}, cycle {cycle}: (addr, first, last, source, x_addr, h_addr) = "
                f"{got[cycle]}, expected {issues[cycle]}")
        # post_*: from the cycle after a group's last column, that group's
        # (layer, group, bank, zero).
        lasts = sorted(posts)
        for n, cycle in enumerate(lasts):
            end = lasts[n + 1] if n + 1 < len(lasts) else len(trace) - 1
            for index in range(cycle + 1, end + 1):
                out = trace[index]
                post = (out["post_layer"], out["post_group"], out["post_bank"],
                        out["post_zero"])
                assert post == posts[cycle], (
                    f"run {number}, cycle {index}: post (layer, group, bank, zero) = {post}, "
                    f"expected {posts[cycle]} (group whose last column was in cycle {cycle})")
        first_step += steps


@pytest.mark.parametrize("name", list(CASES))
def test_schedule(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=1)
    check(config, prog, RUNS, traces)


@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8", "small-gap", "stack-3x5-7-2",
                                  "stack-slot1-5x3-6", "stack-packed"])
def test_stalls_freeze_the_sequence(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=2, stall_prob=0.4)
    check(config, prog, RUNS, traces)


@pytest.mark.parametrize("name", ["small-3x5", "wide2-gaps"])
def test_start_ignored_while_busy(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=3, stall_prob=0.2, restart_while_busy=True)
    check(config, prog, RUNS, traces)


def test_multi_layer_cases_cover_the_interesting_shapes():
    """The stack cases have layers of different sizes, later layers with input columns from
    the previous layer, non-zero gaps and PERIOD == COLS, and runs from slots 1 and 2."""
    sizes = [tuple((L["input_size"], L["hidden_size"]) for L in CASES[n][1]["layers"])
             for n in STACKS]
    assert any(len(s) == 3 and len({h for _, h in s}) == 3 for s in sizes)
    assert any(len(s) == 2 and s[0][1] != s[1][1] for s in sizes)
    layers = [L for n in STACKS for L in CASES[n][1]["layers"]]
    assert any(L["period"] == L["columns"] for L in layers)
    assert any(L["gap"] > 0 for L in layers)
    assert {CASES[n][1]["first_layer"] for n in STACKS} == {0, 1, 2}
    # The expansion model puts each slot's weights at its own base.
    _, prog = CASES["stack-3x5-7-2"]
    assert [L["weight_base"] for L in prog["layers"]] == [0, 60, 120]


def test_enumeration_matches_the_expansion_model():
    """The independent enumeration agrees with the expansion model's own cycle formulas
    (group starts ``1 + s * step_cycles + layer_offset(p) + g * period``), and under it every
    h is read after the cell engine writes it (``Schedule.emit_cycle``; a write can be read
    from the next cycle on) and, for h_{t-1}, not after the next step overwrites it (a read
    in the cycle of a write returns the old word): a cross-check of the two documents, no
    simulation."""
    for name, (config, prog) in CASES.items():
        if name in ("small-packed", "small-gap", "stack-packed", "wide2-gaps"):
            continue
        layers = prog["layers"]
        schedule = plan_schedule(config, layers[0]["input_size"],
                                 [L["hidden_size"] for L in layers],
                                 first_layer=prog["first_layer"])
        steps = 4
        issues, posts, busy_until = expected_issues(config, prog, steps, 0, 0)
        assert busy_until == steps * schedule.step_cycles, name
        reads = 0
        for s in range(steps):
            for p, L in enumerate(layers):
                I, cols = L["input_size"], L["columns"]
                for g in range(L["groups"]):
                    start = schedule._group_start(s, p, g)
                    assert issues[start + cols - 1][0] == L["weight_base"] + (g + 1) * cols - 1
                    assert posts[start + cols - 1][:2] == (L["layer"], g), (name, s, p, g)
                    for j in range(1, cols):
                        cycle = start + j
                        assert issues[cycle][0] == L["weight_base"] + g * cols + j
                        if j <= I and p > 0:
                            # The previous layer's h_t[j - 1] of this step.
                            assert schedule.emit_cycle(s, j - 1, p - 1) < cycle, (name, s, p)
                            reads += 1
                        elif j > I and s > 0:
                            k = j - 1 - I
                            assert schedule.emit_cycle(s - 1, k, p) < cycle, (name, s, p, k)
                            assert schedule.emit_cycle(s + 1, k, p) >= cycle, (name, s, p, k)
                            reads += 1
        assert reads == sum(1 for issue in issues.values() if issue[3] == Source.H_MEMORY)


@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8", "stack-3x5-7-2"])
def test_keep_state_sampled_at_start(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=4, change_after_start=("keep_state",))
    check(config, prog, RUNS, traces)


@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8", "stack-slot1-5x3-6"])
def test_steps_sampled_at_start(name):
    """RPU's documentation: "a cycle with start high while idle starts a run of steps time
    steps". The run length is therefore set by the start cycle, as keep_state is; changing
    steps afterwards must not change the run."""
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=4, change_after_start=("steps",))
    check(config, prog, RUNS, traces)
