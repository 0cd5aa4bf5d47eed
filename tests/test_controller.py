"""The controller in simulation against an independent enumeration of its documented
schedule.

From the module docstring of :mod:`rpu.controller`, counting the cycle in which ``start`` is
taken as cycle 0 (in enabled cycles): column ``j`` of row group ``g`` of step ``s`` is issued
in cycle ``1 + s * (GROUPS * PERIOD + GAP) + g * PERIOD + j`` at weight address
``g * COLS + j``; column 0 (the bias) takes the constant one, columns ``1 .. I`` x_t (from the
input stream for group 0, from the x memory at ``j - 1`` for the others), columns
``I + 1 .. I + H`` h_{t-1} from the hidden-state memory at ``k = j - 1 - I`` in the half the
previous step wrote, or zero in step 0 of a run that does not keep its state. Each step writes
the other half of the hidden-state memory than the step before (across runs too, so a run
that keeps its state reads what the last step of the previous run wrote). ``busy`` is high
from cycle 1 through the last cycle of the last step, including its gap.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from rpu.config import RPUConfig
from rpu.controller import Controller, Source
from rpu.expansion import plan_schedule


SMALL = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                  activation_units=1, elementwise_units=1)
WIDE = RPUConfig(input_size=20, hidden_size=12, pim_arrays=1, lanes_per_array=16,
                 activation_units=2, elementwise_units=4)


def program_of(config, I, H):
    s = plan_schedule(config, I, H)
    return dict(input_size=I, hidden_size=H, columns=s.columns, groups=s.groups,
                group_period=s.group_period, step_gap=s.step_gap)


CASES = {
    # name: (config, program)
    "small-3x5": (SMALL, program_of(SMALL, 3, 5)),       # 3 groups, PERIOD > COLS, GAP > 0
    "small-1x1": (SMALL, program_of(SMALL, 1, 1)),       # one group of 3 columns
    "wide-20x12": (WIDE, program_of(WIDE, 20, 12)),      # PERIOD == COLS, GAP == 0
    "wide-8x8": (WIDE, program_of(WIDE, 8, 8)),          # 2 groups, GAP > 0
    # Hand-written programs: groups back to back, and a long gap.
    "small-packed": (SMALL, dict(input_size=3, hidden_size=5, columns=9, groups=3,
                                 group_period=9, step_gap=0)),
    "small-gap": (SMALL, dict(input_size=2, hidden_size=3, columns=6, groups=2,
                              group_period=7, step_gap=11)),
}

#: Runs of every case: (steps, keep_state).
RUNS = [(3, 0), (2, 1), (1, 0), (1, 1)]


def expected_issues(config, prog, steps, keep_state, first_step):
    """The documented schedule of one run: {cycle: (addr, first, last, source, x_addr,
    h_addr)} with x_addr / h_addr None where the source does not use them; and per step its
    bank and zero flag. ``first_step`` counts the steps since reset (for the banks)."""
    I, cols = prog["input_size"], prog["columns"]
    groups, period, gap = prog["groups"], prog["group_period"], prog["step_gap"]
    padded = config.padded_hidden
    issues, steps_info = {}, []
    for s in range(steps):
        bank = (first_step + s) % 2
        zero = s == 0 and not keep_state
        steps_info.append((bank, zero))
        for g in range(groups):
            for j in range(cols):
                cycle = 1 + s * (groups * period + gap) + g * period + j
                x_addr = h_addr = None
                if j == 0:
                    source = Source.ONE
                elif j <= I:
                    source = Source.X_STREAM if g == 0 else Source.X_MEMORY
                    x_addr = j - 1
                elif zero:
                    source = Source.ZERO
                else:
                    source = Source.H_MEMORY
                    h_addr = (1 - bank) * padded + (j - 1 - I)
                issues[cycle] = (g * cols + j, j == 0, j == cols - 1, int(source), x_addr,
                                 h_addr)
    busy_until = steps * (groups * period + gap)
    return issues, steps_info, busy_until


OUTPUTS = ("busy", "valid", "addr", "first", "last", "source", "need_x", "x_addr", "h_addr",
           "post_group", "post_bank", "post_zero")


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
        for name in ("input_size", "columns", "groups", "group_period", "step_gap"):
            ctx.set(getattr(dut, name), prog[name])

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
                assert len(trace) < 5000, "busy never fell"
            traces.append(trace)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return traces


def check(config, prog, runs, traces):
    first_step = 0
    for number, ((steps, keep_state), trace) in enumerate(zip(runs, traces)):
        issues, steps_info, busy_until = expected_issues(config, prog, steps, keep_state,
                                                         first_step)
        first_step += steps
        got = {}
        for index, out in enumerate(trace):
            # busy: low in the start cycle, high in cycles 1 .. busy_until, then low.
            assert out["busy"] == int(1 <= index <= busy_until), (
                f"run {number}: busy={out['busy']} in cycle {index} (busy_until {busy_until})")
            if out["valid"]:
                source = out["source"]
                got[index] = (out["addr"], bool(out["first"]), bool(out["last"]), source,
                              out["x_addr"] if source in (Source.X_STREAM, Source.X_MEMORY)
                              else None,
                              out["h_addr"] if source == Source.H_MEMORY else None)
                assert out["need_x"] == int(source == Source.X_STREAM), (index, out)
            else:
                assert out["need_x"] == 0, (index, out)
        assert sorted(got) == sorted(issues), (
            f"run {number}: issue cycles {sorted(set(got) ^ set(issues))[:10]} differ")
        for cycle in sorted(issues):
            assert got[cycle] == issues[cycle], (
                f"run {number}, cycle {cycle}: (addr, first, last, source, x_addr, h_addr) = "
                f"{got[cycle]}, expected {issues[cycle]}")
        # post_*: from the cycle after a group's last column, that group's (g, bank, zero).
        groups, cols = prog["groups"], prog["columns"]
        lasts = sorted(c for c, issue in issues.items() if issue[2])
        for n, cycle in enumerate(lasts):
            s, g = divmod(n, groups)
            bank, zero = steps_info[s]
            end = lasts[n + 1] if n + 1 < len(lasts) else len(trace) - 1
            for index in range(cycle + 1, end + 1):
                out = trace[index]
                assert (out["post_group"], out["post_bank"], out["post_zero"]) == \
                    (g, bank, int(zero)), (
                    f"run {number}, cycle {index}: post (group, bank, zero) = "
                    f"{(out['post_group'], out['post_bank'], out['post_zero'])}, expected "
                    f"{(g, bank, int(zero))} (step {s}, group {g})")


@pytest.mark.parametrize("name", list(CASES))
def test_schedule(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=1)
    check(config, prog, RUNS, traces)


@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8", "small-gap"])
def test_stalls_freeze_the_sequence(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=2, stall_prob=0.4)
    check(config, prog, RUNS, traces)


def test_start_ignored_while_busy():
    config, prog = CASES["small-3x5"]
    traces = simulate(config, prog, RUNS, seed=3, stall_prob=0.2, restart_while_busy=True)
    check(config, prog, RUNS, traces)


def test_enumeration_matches_the_expansion_model():
    """The independent enumeration agrees with the expansion model's own cycle formulas for
    the last column of every group (a cross-check of the two documents, no simulation)."""
    for name in ("small-3x5", "wide-8x8", "wide-20x12"):
        config, prog = CASES[name]
        schedule = plan_schedule(config, prog["input_size"], prog["hidden_size"])
        issues, _, busy_until = expected_issues(config, prog, 3, 0, 0)
        assert busy_until == 3 * schedule.step_cycles
        for s in range(3):
            for g in range(prog["groups"]):
                cycle = schedule._group_start(s, g) + prog["columns"] - 1
                assert issues[cycle][0] == g * prog["columns"] + prog["columns"] - 1
                assert issues[cycle][2]



@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8"])
def test_keep_state_sampled_at_start(name):
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=4, change_after_start=("keep_state",))
    check(config, prog, RUNS, traces)


@pytest.mark.parametrize("name", ["small-3x5", "wide-8x8"])
def test_steps_sampled_at_start(name):
    """RPU's documentation: "a cycle with start high while idle starts a run of steps time
    steps". The run length is therefore set by the start cycle, as keep_state is; changing
    steps afterwards must not change the run."""
    config, prog = CASES[name]
    traces = simulate(config, prog, RUNS, seed=4, change_after_start=("steps",))
    check(config, prog, RUNS, traces)
