"""The one-hot state machine (:class:`rpu.fpga.onehot.OneHotFSM`) in simulation, against
Amaranth's own FSM built from the same description: the same state in every cycle, with
random inputs, and exactly one state's flip-flop set. The description has what the host
link uses: a goto overridden by a later conditional one, a goto to the state itself, a
state left by no goto."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal

from rpu.fpga.onehot import OneHotFSM
from tests.helpers import run_testbench

STATES = ("A", "B", "C", "D")


def describe(m, state, goto, a, b):
    """The machine: in A, to B, or to C if a; in B, to B unless b, then to D if a; in C,
    to A if a and b; in D, back to A."""
    with state("A"):
        goto("B")
        with m.If(a):
            goto("C")
    with state("B"):
        goto("B")
        with m.If(b):
            with m.If(a):
                goto("D")
            with m.Else():
                goto("C")
    with state("C"):
        with m.If(a & b):
            goto("A")
    with state("D"):
        goto("A")


class Both(Elaboratable):
    def __init__(self):
        self.a, self.b = Signal(), Signal()
        self.reference = Signal(range(len(STATES)))
        self.flags = [Signal(name=f"flag_{s}") for s in STATES]

    def elaborate(self, platform):
        m = Module()
        onehot = OneHotFSM(m, STATES, init="A", name="t")

        def amaranth_goto(target):
            m.next = target
        with m.FSM(init="A") as fsm:
            describe(m, m.State, amaranth_goto, self.a, self.b)
        describe(m, onehot.state, onehot.goto, self.a, self.b)
        onehot.check()
        for index, name in enumerate(STATES):
            with m.If(fsm.ongoing(name)):
                m.d.comb += self.reference.eq(index)
            m.d.comb += self.flags[index].eq(onehot.ongoing(name))
        return m


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_onehot_follows_amaranths_fsm(seed):
    dut = Both()
    rng = random.Random(seed)
    seen, mismatches = set(), []

    async def testbench(ctx):
        for cycle in range(400):
            ctx.set(dut.a, rng.random() < 0.5)
            ctx.set(dut.b, rng.random() < 0.5)
            flags = [ctx.get(flag) for flag in dut.flags]
            reference = ctx.get(dut.reference)
            seen.add(reference)
            if flags != [int(i == reference) for i in range(len(STATES))]:
                mismatches.append((cycle, STATES[reference], flags))
            await ctx.tick()

    run_testbench(dut, testbench)
    assert mismatches == []
    assert seen == set(range(len(STATES)))


def test_onehot_refuses_bad_descriptions():
    m = Module()
    m._MustUse__silence = True          # only described, never elaborated
    with pytest.raises(ValueError, match="states must be unique"):
        OneHotFSM(m, ["A", "A"], init="A", name="t")
    with pytest.raises(ValueError, match="init must be one of the states"):
        OneHotFSM(m, ["A"], init="B", name="t")
    fsm = OneHotFSM(m, ["A", "B"], init="A", name="t")
    with pytest.raises(RuntimeError, match="outside a state"):
        fsm.goto("B")
    with fsm.state("A"):
        with pytest.raises(ValueError, match="unknown state 'C'"):
            fsm.goto("C")
    with pytest.raises(ValueError, match="defined twice"):
        with fsm.state("A"):
            pass
    with pytest.raises(ValueError, match="states without logic: B"):
        fsm.check()
