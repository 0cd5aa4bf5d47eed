"""The two-word stream buffer in front of the RPU's x port and behind its h port."""

import random

import pytest
from amaranth.sim import Simulator

from rpu.hw.stream_buffer import StreamBuffer


def run(cycles, *, write_prob, read_prob, seed):
    """Drive random writes of 0, 1, 2, ... and random reads; return per cycle the
    (level, w.ready, r.valid) seen, the words read and the number written."""
    dut = StreamBuffer(8)
    trace, read, written = [], [], [0]

    async def testbench(ctx):
        rng = random.Random(seed)
        for _ in range(cycles):
            ctx.set(dut.w.valid, rng.random() < write_prob)
            ctx.set(dut.w.payload, written[0] & 0xFF)
            ctx.set(dut.r.ready, rng.random() < read_prob)
            _, _, level, w_ready, w_valid, r_valid, r_ready, payload = await ctx.tick().sample(
                dut.level, dut.w.ready, dut.w.valid, dut.r.valid, dut.r.ready, dut.r.payload)
            trace.append((level, w_ready, r_valid))
            if r_valid and r_ready:
                read.append(payload)
            if w_valid and w_ready:
                written[0] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return trace, read, written[0]


@pytest.mark.parametrize("write_prob, read_prob", [(0.7, 0.7), (0.9, 0.3), (0.3, 0.9)])
def test_words_leave_in_order(write_prob, read_prob):
    trace, read, written = run(3000, write_prob=write_prob, read_prob=read_prob, seed=7)
    assert read == [n & 0xFF for n in range(len(read))]
    assert 0 <= written - len(read) <= 2
    assert len(read) > 500
    # Every level is reached.
    assert {level for level, _, _ in trace} == {0, 1, 2}


def test_ready_and_valid_follow_the_level_alone():
    """w.ready is level != 2 and r.valid is level != 0 in every cycle, whatever the other
    side does: neither is a combinational function of the other stream."""
    trace, _, _ = run(2000, write_prob=0.6, read_prob=0.6, seed=3)
    for level, w_ready, r_valid in trace:
        assert w_ready == (level != 2) and r_valid == (level != 0)


def test_one_word_per_cycle_at_full_rate():
    """With the producer always valid and the consumer always ready, a word flows through
    in every cycle after the first."""
    trace, read, written = run(200, write_prob=1.0, read_prob=1.0, seed=1)
    assert len(read) == 199 and written == 200
    assert read == list(range(199))


def test_full_buffer_resumes_at_full_rate():
    """A consumer that stops fills the buffer (two words); once it reads again, one read
    frees a place and from then on a word flows in every cycle."""
    dut = StreamBuffer(8)
    got = []

    async def testbench(ctx):
        ctx.set(dut.w.valid, 1)
        word = 0
        for cycle in range(20):
            ctx.set(dut.w.payload, word)
            ctx.set(dut.r.ready, cycle >= 5)
            _, _, w_ready, r_valid, r_ready, payload, level = await ctx.tick().sample(
                dut.w.ready, dut.r.valid, dut.r.ready, dut.r.payload, dut.level)
            if cycle == 4:
                assert level == 2 and not w_ready
            if r_valid and r_ready:
                got.append((cycle, payload))
            if w_ready:
                word += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert [payload for _, payload in got] == list(range(len(got)))
    assert [cycle for cycle, _ in got] == list(range(5, 20))
