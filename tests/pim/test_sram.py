"""The RAM of every memory (:class:`pim.sram.SRAM`) in simulation, with and without its output
and write registers: what it reads, against a Python model of its documented behaviour."""

import random

import pytest
from amaranth.hdl import signed

from pim.sram import SRAM
from tests.helpers import run_testbench


def sram_vectors(rng, sram, width, cycles):
    """(rd_en, rd_addr, wr_en, wr_addr, wr_data) per cycle: writes first, then reads mixed
    with writes elsewhere, addresses up to the address space's end (beyond the depth too).
    A write is never to a word read in its cycle or the next (where a registered write
    lands), which the block does not define."""
    space = 1 << sram.address_bits
    reads = [rng.randrange(space) for _ in range(cycles + 1)]
    vectors = []
    for cycle in range(cycles):
        writing = cycle < cycles // 2 or rng.random() < 0.3
        wr_addr = rng.randrange(space)
        while space > 2 and wr_addr in reads[cycle:cycle + 2]:
            wr_addr = rng.randrange(space)
        vectors.append((int(rng.random() < 0.7), reads[cycle], int(writing), wr_addr,
                        rng.getrandbits(width)))
    return vectors


def expected_reads(sram, vectors):
    """What :class:`pim.sram.SRAM` documents: the word read on an enabled edge (with
    ``output_register`` registered on the next enabled edge); writes beyond the depth
    ignored (with ``write_register`` taking effect an edge later), reads there zero."""
    mem, latch, out, outputs = [0] * sram.depth, 0, 0, []
    pending = None
    for rd_en, rd_addr, wr_en, wr_addr, wr_data in vectors:
        if rd_en:
            out, latch = latch, (mem[rd_addr] if rd_addr < sram.depth else 0)
        write = (wr_addr, wr_data) if wr_en and wr_addr < sram.depth else None
        if sram.write_register:
            write, pending = pending, write
        if write is not None:
            mem[write[0]] = write[1]
        outputs.append(out if sram.output_register else latch)
    return outputs


def simulate(sram, vectors):
    """``rd_data`` after each clock edge of ``vectors`` in Amaranth's simulator."""
    outputs = []

    async def testbench(ctx):
        for rd_en, rd_addr, wr_en, wr_addr, wr_data in vectors:
            for port, value in ((sram.rd_en, rd_en), (sram.rd_addr, rd_addr),
                                (sram.wr_en, wr_en), (sram.wr_addr, wr_addr),
                                (sram.wr_data, wr_data)):
                ctx.set(port, value)
            await ctx.tick()
            outputs.append(ctx.get(sram.rd_data) % (1 << len(sram.rd_data)))

    run_testbench(sram, testbench)
    return outputs


@pytest.mark.parametrize("output_register", [False, True])
@pytest.mark.parametrize("write_register", [False, True])
@pytest.mark.parametrize("depth", [1, 5, 16, 100])
def test_reads_what_is_documented(depth, output_register, write_register):
    sram = SRAM(depth=depth, shape=signed(8), output_register=output_register,
                write_register=write_register)
    vectors = sram_vectors(random.Random(depth), sram, 8, 300)
    assert simulate(sram, vectors) == expected_reads(sram, vectors)
