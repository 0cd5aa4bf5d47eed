"""The protocol engine (rpu.fpga.link.HostLink) in Amaranth's simulator: frames in as line
levels on rx, frames out decoded from tx, checked with the protocol module's own decoder.

The whole LSTM through the link runs in Verilator (test_simulated_board.py); here the
engine's answers to single frames, good and broken, are checked cycle-accurately.
"""

import pytest
from amaranth.sim import Simulator

from rpu.config import RPUConfig
from rpu.fpga import protocol
from rpu.fpga.link import HostLink, info_payload
from rpu.fpga.protocol import Command, Error, encode_frame, FrameDecoder

CONFIG = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                   activation_units=1, elementwise_units=1)
DIVISOR = 4
TIMEOUT = 40 * DIVISOR
#: Cycles to wait for an answer: the gap that ends a broken frame, then up to 80 bytes.
ANSWER_CYCLES = TIMEOUT + 80 * 10 * DIVISOR + 100


def exchange(requests, *, max_payload=128):
    """Send each item of ``requests`` (bytes, or ``("framing", byte)`` for a character with a
    low stop bit) and return the frames the link sends back, in order."""
    link = HostLink(config=CONFIG, divisor=DIVISOR, max_payload=max_payload, fifo_depth=16,
                    timeout_cycles=TIMEOUT)
    levels = []

    async def line(ctx):
        ctx.set(link.rx, 1)
        await ctx.tick().repeat(4)
        for item in requests:
            if isinstance(item, tuple):
                _, byte = item
                characters = [(byte, 0)]
            else:
                characters = [(byte, 1) for byte in item]
            for byte, stop in characters:
                for level in [0] + [byte >> k & 1 for k in range(8)] + [stop]:
                    ctx.set(link.rx, level)
                    await ctx.tick().repeat(DIVISOR)
                ctx.set(link.rx, 1)
                if not stop:
                    await ctx.tick().repeat(2 * DIVISOR)
            # Stop and wait: the next request after the answer (gap + answer time).
            await ctx.tick().repeat(ANSWER_CYCLES)

    async def probe(ctx):
        async for _, _, level in ctx.tick().sample(link.tx):
            levels.append(level)

    sim = Simulator(link)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_process(probe)
    sim.run_until(1e-6 * (sum(len(r) if isinstance(r, bytes) else 1 for r in requests)
                          * 10 * DIVISOR + len(requests) * ANSWER_CYCLES + 50))
    data, position = bytearray(), 0
    while 0 in levels[position:]:
        start = levels.index(0, position)
        if start + 10 * DIVISOR > len(levels):
            break
        bits = [levels[start + k * DIVISOR + DIVISOR // 2] for k in range(10)]
        assert bits[9] == 1, "the link sent a low stop bit"
        data.append(sum(bit << k for k, bit in enumerate(bits[1:9])))
        position = start + 10 * DIVISOR - 1
    return FrameDecoder().feed(bytes(data))


def error(code, command, errors):
    return (protocol.ERROR, protocol.pack_fields(protocol.ERROR_FIELDS, {
        "code": code, "command": command, "errors": errors}))


def test_ping_and_status():
    frames = exchange([encode_frame(Command.PING), encode_frame(Command.STATUS)])
    assert frames[0] == (protocol.response_of(Command.PING),
                         info_payload(CONFIG, max_payload=128, fifo_depth=16))
    info = protocol.unpack_fields(protocol.INFO_FIELDS, frames[0][1])
    assert info["config_id"] == protocol.config_id(CONFIG)
    assert info["weights_bytes"] == protocol.word_bytes(CONFIG, "weights")
    command, payload = frames[1]
    assert command == protocol.response_of(Command.STATUS)
    status = protocol.unpack_fields(protocol.STATUS_FIELDS, payload)
    assert status == {name: 0 for name, _ in protocol.STATUS_FIELDS}


def test_broken_frames_are_answered_with_errors_and_counted():
    good = encode_frame(Command.PING)
    bad_crc = good[:-1] + bytes([good[-1] ^ 0x40])
    frames = exchange([
        bad_crc,                                        # CRC mismatch
        b"\x00\x01",                                    # not a sync byte
        encode_frame(0x42),                             # unknown command
        encode_frame(Command.STATUS, b"\x00"),          # STATUS takes no payload
        encode_frame(Command.PROGRAM, bytes(7)),        # not whole 5-byte program words
        bytes([protocol.SYNC, Command.WEIGHTS, 0x00, 0x01]),   # 256 > max_payload 128
        good[:3],                                       # stops part way
        ("framing", protocol.SYNC),                     # low stop bit
        encode_frame(Command.START, b"\x00\x00\x00"),   # steps = 0
        encode_frame(Command.STREAM, bytes(2 * 17)),    # 17 x words > FIFO of 16
        good,                                           # still answers
    ])
    assert frames == [
        error(Error.CRC, Command.PING, 1),
        error(Error.SYNC, 0, 2),
        error(Error.COMMAND, 0x42, 3),
        error(Error.SIZE, Command.STATUS, 4),
        error(Error.SIZE, Command.PROGRAM, 5),
        error(Error.LENGTH, Command.WEIGHTS, 6),
        error(Error.TIMEOUT, Command.PING, 7),
        error(Error.FRAMING, 0, 8),
        error(Error.ARGUMENT, Command.START, 9),
        error(Error.OVERFLOW, Command.STREAM, 10),
        (protocol.response_of(Command.PING), info_payload(CONFIG, max_payload=128,
                                                          fifo_depth=16)),
    ]


def test_stream_room_counts_every_push():
    """The room a STREAM answer reports (a counter kept beside the x FIFO) is the FIFO's depth
    (16) less the words in it, its own frame's included, down to exactly 0; one word more
    than the room overflows; RESET empties the FIFO. The RPU does not run, but it takes the
    first two words of a stream into its two-word x buffer (rpu.hw.stream_buffer), so the
    room is 16 - pushed + 2 until then."""
    def stream(words):
        return encode_frame(Command.STREAM, bytes(range(2 * words)))

    def answer(room):
        return (protocol.response_of(Command.STREAM), room.to_bytes(2, "little"))

    frames = exchange([stream(5), stream(11), stream(2), stream(1),
                       encode_frame(Command.RESET), stream(16), stream(3), stream(2)])
    assert frames == [
        answer(13), answer(2), answer(0), error(Error.OVERFLOW, Command.STREAM, 1),
        (protocol.response_of(Command.RESET), b""),
        answer(2), error(Error.OVERFLOW, Command.STREAM, 2), answer(0),
    ]


def test_link_parameters_are_checked():
    with pytest.raises(ValueError, match="divisor must be from 4"):
        HostLink(config=CONFIG, divisor=2)
    with pytest.raises(ValueError, match="max_payload must be from 64"):
        HostLink(config=CONFIG, divisor=4, max_payload=8)
    with pytest.raises(ValueError, match="timeout_cycles must be from 80"):
        HostLink(config=CONFIG, divisor=4, timeout_cycles=10)
    with pytest.raises(TypeError, match="config must be an RPUConfig"):
        HostLink(config={}, divisor=4)


def _products(rtlil_text, module):
    """The ``$mul`` cells of ``module`` that would be multipliers: neither operand empty nor
    a constant power of two (those are shifts)."""
    import re
    block = rtlil_text.split(f"\nmodule {module}\n", 1)[1].split("\nend\n", 1)[0]
    products = []
    for cell in re.findall(r"cell \$mul \S+\n(.*?)\n\s*end", block, re.S):
        widths = dict(re.findall(r"parameter \\([AB])_WIDTH (\d+)", cell))
        operands = dict(re.findall(r"connect \\([AB]) (.*)", cell))
        if "0" in widths.values():
            continue
        constants = [int(value.split("'")[1], 2) for value in operands.values()
                     if re.fullmatch(r"\d+'[01]+", value.strip())]
        if any(c & (c - 1) == 0 for c in constants):
            continue
        products.append(cell)
    return products


def test_the_link_leaves_the_dsp_blocks_to_the_rpu():
    """The link has no multiplier (which Yosys would put in a DSP block the fit check does not
    count): e.g. a response's length, pairs x 3 bytes for 12-bit data, is shifts and adds."""
    from amaranth.back import rtlil
    config = RPUConfig(input_size=8, hidden_size=16, pim_arrays=1, lanes_per_array=8,
                       activation_units=1, elementwise_units=1, data_width=12,
                       data_frac_bits=8, weight_width=8, weight_frac_bits=6)
    assert protocol.word_bytes(config, "h") == 3
    text = rtlil.convert(HostLink(config=config, divisor=4), name="top", emit_src=False)
    for module in ("\\top", "\\top.receiver", "\\top.transmitter"):
        assert _products(text, module) == []
    # The check finds real products: the MAC lanes' weight x operand.
    assert len(_products(text, "\\top.rpu.pim0.lane0.product")) == 1
