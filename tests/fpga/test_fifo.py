"""The host link's FIFO with registered storage (:class:`rpu.fpga.fifo.RegisteredFIFO`) in
simulation, against a Python model of its documented behaviour: first in, first out; at most
``depth - QUEUE_DEPTH`` words in its RAMs, then a queue of ``QUEUE_DEPTH`` registers whose
first is the head; a word is read whenever the RAMs hold one and the reads in flight and the
queue hold fewer than ``QUEUE_DEPTH``, and joins the queue ``READ_CYCLES`` cycles later;
``level`` counts every word held; a word per cycle flows through."""

import random
from collections import deque

import pytest
from amaranth.back import verilog

from rpu.fpga.boards import board
from rpu.fpga.fifo import RegisteredFIFO, READ_CYCLES, QUEUE_DEPTH
from tests.helpers import run_testbench


def simulate(depth, parts, *, cycles, seed, write_prob, read_prob):
    """Random pushes and pops; returns the mismatches with the model as (cycle, what, got,
    expected) and the words popped."""
    dut = RegisteredFIFO(width=16, depth=depth, parts=parts)
    rng = random.Random(seed)
    mismatches, popped = [], []

    async def testbench(ctx):
        stored = deque()         # in the RAMs
        flight = deque()         # [edges until it joins the queue, word]
        queue = deque()          # the head first
        counter = 0
        for cycle in range(cycles):
            w_en = rng.random() < write_prob
            r_en = rng.random() < read_prob
            word = counter & 0xFFFF
            ctx.set(dut.w_en, w_en)
            ctx.set(dut.w_data, word)
            ctx.set(dut.r_en, r_en)
            # The outputs before the edge, against the model's state.
            got = (ctx.get(dut.w_rdy), ctx.get(dut.r_rdy), ctx.get(dut.level))
            expected = (int(len(stored) < depth - QUEUE_DEPTH), int(bool(queue)),
                        len(stored) + len(flight) + len(queue))
            if got != expected:
                mismatches.append((cycle, "w_rdy, r_rdy, level", got, expected))
            if queue and ctx.get(dut.r_data) != queue[0]:
                mismatches.append((cycle, "r_data", ctx.get(dut.r_data), queue[0]))
            await ctx.tick()
            # The model's edge.
            read = stored and len(queue) + len(flight) < QUEUE_DEPTH
            if queue and r_en:
                popped.append(queue.popleft())
            for entry in flight:
                entry[0] -= 1
            while flight and flight[0][0] == 0:
                queue.append(flight.popleft()[1])
            if read:
                flight.append([READ_CYCLES - 1, stored.popleft()])
            if w_en and expected[0]:
                stored.append(word)
                counter += 1

    run_testbench(dut, testbench)
    return mismatches, popped


@pytest.mark.parametrize("depth, parts, write_prob, read_prob", [
    (16, 2, 0.5, 0.5), (16, 1, 0.9, 0.2), (6, 2, 0.3, 0.9), (5, 1, 0.6, 0.6),
    (16, 1, 1.0, 1.0),
])
def test_behaves_as_documented(depth, parts, write_prob, read_prob):
    mismatches, popped = simulate(depth, parts, cycles=1500, seed=depth + parts,
                                  write_prob=write_prob, read_prob=read_prob)
    assert mismatches == []
    # Every word came out, in order, once.
    assert popped == list(range(len(popped))) and len(popped) > 100


def test_a_word_per_cycle_flows_through():
    mismatches, popped = simulate(16, 1, cycles=400, seed=3, write_prob=1.0, read_prob=1.0)
    assert mismatches == []
    # Written in every cycle from cycle 0, each word is the head 4 cycles later.
    assert popped == list(range(400 - 4))


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="depth must be"):
        RegisteredFIFO(width=8, depth=QUEUE_DEPTH)
    with pytest.raises(ValueError, match="width 9 is not a multiple of parts 2"):
        RegisteredFIFO(width=9, depth=8, parts=2)


def test_ecp5_storage_is_block_ram_with_output_registers():
    """On the ECP5 each part is a DP16KD with REGMODE_B "OUTREG" (rpu.fpga.bram)."""
    rtl = verilog.convert(RegisteredFIFO(width=32, depth=512, parts=2),
                          platform=board("ulx3s-85f").make_platform(), name="top")
    assert rtl.count("DP16KD") == 2
    assert rtl.count('.REGMODE_B("OUTREG")') == 2
