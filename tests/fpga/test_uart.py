"""The 8N1 UART (rpu.fpga.uart) in Amaranth's simulator, against a bit-level line model."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from rpu.fpga.uart import UARTReceiver, UARTTransmitter, divisor_for


def line_bits(byte, stop=1):
    """The levels of one 8N1 character: start, 8 data bits LSB first, stop."""
    return [0] + [byte >> k & 1 for k in range(8)] + [stop]


@pytest.mark.parametrize("divisor", [4, 7])
def test_transmitter_waveform(divisor):
    tx = UARTTransmitter(divisor=divisor)
    data = [0x55, 0x00, 0xFF, 0xA5]
    levels = []

    async def bench(ctx):
        for byte in data:
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
            ctx.set(tx.bytes.valid, 0)
        for _ in range(10 * divisor * 2):
            await ctx.tick()

    async def probe(ctx):
        async for _, _, level in ctx.tick().sample(tx.tx):
            levels.append(level)

    sim = Simulator(tx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(probe)
    sim.run_until(1e-6 * (len(data) * 10 * divisor + 40 * divisor))
    # Decode the waveform as a receiver would: after each falling edge, mid-bit samples.
    decoded, position = [], 0
    while len(decoded) < len(data):
        start = levels.index(0, position)
        bits = [levels[start + k * divisor + divisor // 2] for k in range(10)]
        assert bits[0] == 0 and bits[9] == 1, bits
        decoded.append(sum(bit << k for k, bit in enumerate(bits[1:9])))
        # Each bit lasts divisor cycles (at most one extra idle cycle between characters).
        assert levels[start:start + divisor] == [0] * divisor
        position = start + 10 * divisor - divisor // 2
        if len(decoded) < len(data):
            assert levels.index(0, position) - start in (10 * divisor, 10 * divisor + 1)
    assert decoded == data


@pytest.mark.parametrize("divisor", [4, 9])
def test_receiver_bytes_and_framing_errors(divisor):
    rx = UARTReceiver(divisor=divisor)
    sent = [(0x3C, 1), (0xFF, 1), (0x81, 0), (0x00, 1), (0x5A, 1)]   # (byte, stop level)
    received = []

    async def bench(ctx):
        ctx.set(rx.bytes.ready, 1)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(5)
        for byte, stop in sent:
            for level in line_bits(byte, stop):
                ctx.set(rx.rx, level)
                await ctx.tick().repeat(divisor)
            ctx.set(rx.rx, 1)
            if not stop:                   # a break: idle again before the next character
                await ctx.tick().repeat(2 * divisor)
        await ctx.tick().repeat(3 * divisor)

    async def collect(ctx):
        async for _, _, valid, payload in ctx.tick().sample(rx.bytes.valid, rx.bytes.payload):
            if valid:
                received.append((payload.data, 1 - payload.framing_error, payload.overrun))

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(collect)
    sim.run_until(1e-6 * (len(sent) * 14 * divisor + 100))
    assert received == [(byte, stop, 0) for byte, stop in sent]


def test_receiver_flags_overrun():
    divisor = 4
    rx = UARTReceiver(divisor=divisor)
    received = []

    async def bench(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(3)
        for byte in (0x11, 0x22):          # nobody takes the first
            for level in line_bits(byte):
                ctx.set(rx.rx, level)
                await ctx.tick().repeat(divisor)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        ctx.set(rx.bytes.ready, 1)
        received.append((ctx.get(rx.bytes.valid), ctx.get(rx.bytes.payload.data),
                         ctx.get(rx.bytes.payload.overrun)))

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert received == [(1, 0x22, 1)]


def test_loopback():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=5)
    m.submodules.rx = rx = UARTReceiver(divisor=5)
    m.d.comb += rx.rx.eq(tx.tx)
    data = list(range(0, 256, 17))
    received = []

    async def bench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for byte in data:
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)
        await ctx.tick().repeat(60)

    async def collect(ctx):
        async for _, _, valid, payload in ctx.tick().sample(rx.bytes.valid, rx.bytes.payload):
            if valid:
                received.append(payload.data)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(collect)
    sim.run_until(1e-6 * (len(data) * 50 + 200))
    assert received == data


def test_divisor_for():
    assert divisor_for(25e6, 115200) == 217
    assert divisor_for(48e6, 115200) == 417
    with pytest.raises(ValueError, match="baud_rate 10000000 is too high"):
        divisor_for(25e6, 10_000_000)
    with pytest.raises(ValueError, match="more than 2 % off"):
        divisor_for(25e6, 5_600_000)     # 25 MHz / 4 = 6.25 MHz, 25 MHz / 5 = 5 MHz
    with pytest.raises(ValueError, match="baud_rate must be an integer"):
        divisor_for(25e6, 115200.0)


def test_divisor_is_checked():
    with pytest.raises(ValueError, match="divisor must be from 4"):
        UARTReceiver(divisor=3)
    with pytest.raises(ValueError, match="divisor must be an integer"):
        UARTTransmitter(divisor=4.0)
