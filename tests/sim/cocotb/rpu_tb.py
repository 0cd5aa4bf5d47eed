"""cocotb testbench of the emitted top-level Verilog (``rpu.v``), the way a user's own
verification would do it.

The RPU is driven only through the ports that ``rpu.json`` and the README document. The
testbench reads the port list, the payload field layouts and the configuration from
``rpu.json``. It compiles LSTMs with the public compiler (``rpu.compiler.compile_lstm``),
then packs the program words and the weight image into stream payloads itself. It imports
nothing from the hardware description (``rpu.hw``) or the simulators (``rpu.sim``).

Results are compared bit for bit with the fixed-point golden model
(``RPUConfig.fixed_model()``), and within 2**-7 with the float64 LSTM
(``lstm_ref.float_lstm.lstm_forward``).

Environment:

* ``RPU_COCOTB_DIR``: the directory that ``rpu generate`` wrote (``rpu.json`` is read from
  it). ``tests/test_cocotb.py`` generates it and runs this module with cocotb's runner.
* ``RPU_COCOTB_STEPS``: time steps of the main runs (default 20).

Handshake convention: the testbench changes its inputs just after a rising edge of ``clk``,
waits for the values to settle (``ReadOnly``), samples ``valid & ready``, and a transfer takes
place at the next rising edge.
"""

import json
import os
import re
from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from lstm_ref.float_lstm import lstm_forward
from rpu.config import RPUConfig
from rpu.compiler import compile_lstm


FLOAT_TOLERANCE = 2.0 ** -7
STEPS = int(os.environ.get("RPU_COCOTB_STEPS", "20"))
CLOCK_PERIOD_NS = 10


# -- rpu.json: ports and payload layouts -----------------------------------------------------

def _bits(count):
    """Width of an index field that holds 0 .. count-1 (no bits for a single value)."""
    return (count - 1).bit_length()


def _bit_range(text):
    """``"bits [31:16]"`` -> (16, 16): the LSB and the width."""
    match = re.fullmatch(r"bits \[(\d+):(\d+)\]", text)
    assert match, f"unexpected bit range {text!r} in rpu.json"
    high, low = int(match[1]), int(match[2])
    return low, high - low + 1


class Description:
    """What a user learns from ``rpu.json``."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.json = json.loads((self.directory / "rpu.json").read_text())
        assert self.json["top"] == "rpu"
        self.config = RPUConfig.from_dict(self.json["configuration"])
        self.ports = {port["name"]: port for port in self.json["ports"]}
        cfg = self.json["configuration"]
        derived = self.json["derived"]
        self.data_width = cfg["data_width"]

        # weights: array (LSBs), addr, data (lanes_per_array weights, lane 0 in the LSBs).
        # rpu.json gives the total width only; the index fields are as wide as their ranges.
        weights = self.ports["weights"]
        assert list(weights["payload"]) == ["array", "addr", "data"]
        self.weight_width = cfg["weight_width"]
        self.lanes_per_array = cfg["lanes_per_array"]
        self.weight_array_bits = _bits(cfg["pim_arrays"])
        self.weight_addr_bits = _bits(derived["weight_depth"])
        data_bits = self.lanes_per_array * self.weight_width
        assert (self.weight_array_bits + self.weight_addr_bits + data_bits
                == weights["payload_bits"]), "weights payload layout does not add up"

        # program: addr (LSBs), data.
        program = self.ports["program"]
        assert list(program["payload"]) == ["addr", "data"]
        self.program_addr_bits = self.json["program_registers"]["address_bits"]
        self.program_data_bits = program["payload_bits"] - self.program_addr_bits
        assert self.program_data_bits == 32

        # h: h and c fields.
        fields = self.ports["h"]["payload"]
        self.h_field = _bit_range(fields["h"])
        self.c_field = _bit_range(fields["c"])
        assert self.h_field == (0, self.data_width)

        # activity: one counter per field.
        self.activity_fields = {name: _bit_range(text)
                                for name, text in self.ports["activity"]["fields"].items()}

    # payload packing

    def weight_payload(self, array, addr, lanes):
        data = 0
        mask = (1 << self.weight_width) - 1
        for lane, code in enumerate(lanes):
            data |= (int(code) & mask) << (lane * self.weight_width)
        return (array | addr << self.weight_array_bits
                | data << (self.weight_array_bits + self.weight_addr_bits))

    def program_payload(self, addr, word):
        assert 0 <= addr < 1 << self.program_addr_bits
        assert 0 <= word < 1 << self.program_data_bits
        return addr | word << self.program_addr_bits

    def x_payload(self, code):
        return int(code) & ((1 << self.data_width) - 1)

    def unpack_h(self, payload):
        return (_signed_field(payload, *self.h_field), _signed_field(payload, *self.c_field))

    def unpack_activity(self, value):
        return {name: (value >> low) & ((1 << width) - 1)
                for name, (low, width) in self.activity_fields.items()}


def _signed_field(value, low, width):
    field = (value >> low) & ((1 << width) - 1)
    return field - (1 << width) if field >> (width - 1) else field


def _int(signal):
    """The value of a port as a non-negative int (fails on X or Z)."""
    value = signal.value
    if hasattr(value, "to_unsigned"):
        return value.to_unsigned()
    return int(value)


# -- the driver: stream partners and control, all through the ports --------------------------

def start_clock(dut):
    """Start ``clk`` (once per cocotb test; the clock stops with the test)."""
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()


class RPUDriver:
    """Drives the ``rpu`` ports.

    ``valid_activity`` is the probability that the testbench offers a word on an input stream
    in a cycle (when it has one), ``ready_activity`` the probability that it takes an h word;
    1.0 never stalls. Each cycle draws anew, from a seeded generator.
    """

    STREAMS = ("weights", "program", "state", "x")

    def __init__(self, dut, description, *, valid_activity=1.0, ready_activity=1.0, seed=0):
        assert 0 < valid_activity <= 1 and 0 < ready_activity <= 1
        self.dut = dut
        self.desc = description
        self.valid_activity = valid_activity
        self.ready_activity = ready_activity
        self.rng = np.random.default_rng(seed)
        self.edges = 0      # rising edges of clk since the testbench started

    def port(self, name):
        return getattr(self.dut, name)

    def active(self, probability):
        return probability >= 1.0 or bool(self.rng.random() < probability)

    def junk(self, signal):
        """A random value for a payload that is not valid: the RPU must ignore it."""
        width = len(signal)
        return int.from_bytes(self.rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)

    async def edge(self):
        await RisingEdge(self.dut.clk)
        self.edges += 1

    async def reset(self, cycles=3):
        """Hold ``rst`` for ``cycles`` cycles with every input idle."""
        dut = self.dut
        for name in self.STREAMS:
            self.port(f"{name}__valid").value = 0
            self.port(f"{name}__payload").value = 0
        dut.h__ready.value = 0
        dut.start.value = 0
        dut.steps.value = 0
        dut.keep_state.value = 0
        dut.rst.value = 1
        for _ in range(cycles):
            await self.edge()
        dut.rst.value = 0
        await self.edge()
        await ReadOnly()
        assert _int(dut.busy) == 0, "busy after reset"
        assert _int(dut.h__valid) == 0, "h valid after reset"
        await self.edge()

    async def send(self, stream, payloads, *, limit=None):
        """Transfer ``payloads`` in order on input stream ``stream``."""
        valid = self.port(f"{stream}__valid")
        ready = self.port(f"{stream}__ready")
        payload = self.port(f"{stream}__payload")
        limit = limit or 50 * len(payloads) / self.valid_activity + 100
        index, cycles = 0, 0
        while index < len(payloads):
            cycles += 1
            assert cycles <= limit, (f"{stream}: only {index} of {len(payloads)} words taken "
                                     f"in {limit} cycles")
            offer = self.active(self.valid_activity)
            valid.value = int(offer)
            payload.value = payloads[index] if offer else self.junk(payload)
            await ReadOnly()
            fire = offer and _int(ready) == 1
            await self.edge()
            if fire:
                index += 1
        valid.value = 0
        payload.value = self.junk(payload)

    async def load(self, program):
        """Program words first, then ``weight_image[array, addr]`` for every address of every
        array (the order that the README gives)."""
        desc = self.desc
        await self.send("program", [desc.program_payload(addr, word)
                                    for addr, word in program.registers])
        image = program.weight_image
        await self.send("weights", [desc.weight_payload(array, addr, image[array, addr])
                                    for array in range(image.shape[0])
                                    for addr in range(image.shape[1])])

    async def run(self, x_codes, hidden_size, *, keep_state=False, settle=8):
        """One run of ``len(x_codes)`` steps.

        Returns a dict: ``h``, ``c`` (T, H) codes; ``cycles`` from the start cycle through the
        last h transfer (the start cycle counts as 1); and the status ports ``run_cycles``
        (``cycles``), ``saturations`` and ``activity`` once ``busy`` has dropped.
        """
        dut, desc = self.dut, self.desc
        x_words = [desc.x_payload(v) for v in np.asarray(x_codes).reshape(-1)]
        steps = len(x_codes)
        expected = steps * hidden_size

        dut.steps.value = steps
        dut.keep_state.value = int(keep_state)
        dut.start.value = 1
        await ReadOnly()
        assert _int(dut.busy) == 0, "start while busy"
        await self.edge()                       # the start cycle
        start_edge = self.edges
        dut.start.value = 0
        dut.keep_state.value = 0                # only sampled with start
        dut.steps.value = 0

        limit = (50 * (steps * 200 + expected)
                 / (self.valid_activity * self.ready_activity) + 2000)
        next_x, outputs, last_h_edge, saw_busy = 0, [], None, False
        while len(outputs) < expected:
            assert self.edges - start_edge <= limit, (
                f"no result after {limit} cycles: {len(outputs)} of {expected} h words and "
                f"{next_x} of {len(x_words)} x words transferred")
            offer_x = next_x < len(x_words) and self.active(self.valid_activity)
            dut.x__valid.value = int(offer_x)
            dut.x__payload.value = x_words[next_x] if offer_x else self.junk(dut.x__payload)
            take_h = self.active(self.ready_activity)
            dut.h__ready.value = int(take_h)
            await ReadOnly()
            saw_busy |= _int(dut.busy) == 1
            x_fire = offer_x and _int(dut.x__ready) == 1
            h_fire = take_h and _int(dut.h__valid) == 1
            h_payload = _int(dut.h__payload) if h_fire else None
            await self.edge()
            if x_fire:
                next_x += 1
            if h_fire:
                outputs.append(desc.unpack_h(h_payload))
                last_h_edge = self.edges
        assert saw_busy, "busy never rose during the run"
        assert next_x == len(x_words), f"the RPU took {next_x} of {len(x_words)} x words"

        # Nothing more may come out, and busy must drop.
        dut.x__valid.value = 0
        dut.h__ready.value = 1
        for _ in range(settle + 200):
            await ReadOnly()
            assert _int(dut.h__valid) == 0, "an h word beyond the expected outputs"
            busy = _int(dut.busy)
            await self.edge()
            if not busy:
                break
        else:
            raise AssertionError("busy did not drop after the last output")
        dut.h__ready.value = 0
        await ReadOnly()
        status = {
            "run_cycles": _int(dut.cycles),
            "saturations": _int(dut.saturations),
            "activity": desc.unpack_activity(_int(dut.activity)),
        }
        await self.edge()
        outputs = np.array(outputs, dtype=np.int64).reshape(steps, hidden_size, 2)
        return {"h": outputs[:, :, 0], "c": outputs[:, :, 1],
                "cycles": last_h_edge - start_edge + 1, **status}


# -- LSTMs and checks ------------------------------------------------------------------------

def random_lstm(rng, input_size, hidden_size, *, scale=1.0):
    """torch.nn.LSTM's default initialisation, U(-1/sqrt(H), 1/sqrt(H)), times ``scale``."""
    bound = scale / np.sqrt(hidden_size)
    return {
        "weight_ih": rng.uniform(-bound, bound, (4 * hidden_size, input_size)),
        "weight_hh": rng.uniform(-bound, bound, (4 * hidden_size, hidden_size)),
        "bias_ih": rng.uniform(-bound, bound, 4 * hidden_size),
        "bias_hh": rng.uniform(-bound, bound, 4 * hidden_size),
    }


def check_against_golden(log, config, program, result, x_codes, *, h0=None, c0=None,
                         reference=None, check_cycles=True):
    """Bit-exact against the fixed-point model; optionally within 2**-7 of float64."""
    fixed = config.fixed_model().run(program.matrix, x_codes, h0=h0, c0=c0)
    mismatch = np.argwhere((result["h"] != fixed.h) | (result["c"] != fixed.c))
    assert not len(mismatch), (
        f"{len(mismatch)} (h, c) outputs differ from the fixed-point model; first at (step, "
        f"unit) {tuple(mismatch[0])}: RTL {result['h'][tuple(mismatch[0])]}, "
        f"{result['c'][tuple(mismatch[0])]}, model {fixed.h[tuple(mismatch[0])]}, "
        f"{fixed.c[tuple(mismatch[0])]}")
    assert result["saturations"] == fixed.saturations, (
        f"saturations port {result['saturations']}, model {fixed.saturations}")
    steps = len(x_codes)
    schedule = program.schedule
    if check_cycles:
        assert result["cycles"] == schedule.total_cycles(steps), (
            f"{result['cycles']} cycles from start to the last h, predicted "
            f"{schedule.total_cycles(steps)}")
        assert result["run_cycles"] == schedule.run_cycles(steps), (
            f"cycles port {result['run_cycles']}, predicted {schedule.run_cycles(steps)}")
    if reference is not None:
        h_error = np.abs(config.data_format.to_float(result["h"]) - reference.h).max()
        c_error = np.abs(config.cell_format.to_float(result["c"]) - reference.c).max()
        log.info("max |error| against float64: h %.3g, c %.3g", h_error, c_error)
        assert h_error <= FLOAT_TOLERANCE, f"h differs from float64 by {h_error}"
        assert c_error <= FLOAT_TOLERANCE, f"c differs from float64 by {c_error}"
    log.info("bit exact over %d steps; %d cycles to the last h (cycles port %d), "
             "%d saturations", steps, result["cycles"], result["run_cycles"],
             result["saturations"])
    return fixed


def _setup(seed, *, input_size=None, hidden_size=None, scale=1.0, steps=STEPS):
    """rpu.json's description, the configuration, a random LSTM (default: the capacity's
    sizes), its program, and N(0, 1) inputs of ``steps`` steps (floats)."""
    desc = Description(os.environ["RPU_COCOTB_DIR"])
    config = desc.config
    I = config.input_size if input_size is None else input_size
    H = config.hidden_size if hidden_size is None else hidden_size
    rng = np.random.default_rng(seed)
    weights = random_lstm(rng, I, H, scale=scale)
    program = compile_lstm(config, **weights)
    x = rng.standard_normal((steps, I))
    return desc, config, weights, program, x


# -- tests -----------------------------------------------------------------------------------

@cocotb.test()
async def test_run_matches_golden_model(dut):
    """Reset, load, run: bit exact, within 2**-7 of float64, cycle exact, counters."""
    desc, config, weights, program, x = _setup(seed=1)
    driver = RPUDriver(dut, desc)
    start_clock(dut)
    await driver.reset()
    await driver.load(program)
    x_codes = config.data_format.quantize(x)
    result = await driver.run(x_codes, program.hidden_size)
    check_against_golden(dut._log, config, program, result, x_codes,
                         reference=lstm_forward(x, **weights))
    expected_activity = program.schedule.activity(len(x_codes))
    assert result["activity"] == expected_activity, (
        f"activity port {result['activity']}, predicted {expected_activity}")


@cocotb.test()
async def test_random_stalls_on_every_stream(dut):
    """Random valid/ready stalls on the program, weights, x and h streams (and junk payloads
    while not valid): the outputs do not change."""
    desc, config, weights, program, x = _setup(seed=2)
    x_codes = config.data_format.quantize(x)
    reference = lstm_forward(x, **weights)
    start_clock(dut)
    # (seed, valid probability, ready probability): balanced, h back-pressure, starved of x.
    for seed, valid, ready in ((10, 0.5, 0.5), (11, 0.9, 0.2), (12, 0.25, 0.9)):
        driver = RPUDriver(dut, desc, valid_activity=valid, ready_activity=ready, seed=seed)
        await driver.reset()
        await driver.load(program)
        result = await driver.run(x_codes, program.hidden_size)
        check_against_golden(dut._log, config, program, result, x_codes,
                             reference=reference, check_cycles=False)
        assert result["cycles"] > program.schedule.total_cycles(len(x_codes))
        assert result["activity"] == program.schedule.activity(len(x_codes))


@cocotb.test()
async def test_back_to_back_runs_with_keep_state(dut):
    """Run, then run on with keep_state (= one long sequence), then a run without
    keep_state (starts from zeros again)."""
    desc, config, weights, program, x = _setup(seed=3, steps=16)
    x_codes = config.data_format.quantize(x)
    first, second = x_codes[:7], x_codes[7:]
    driver = RPUDriver(dut, desc)
    start_clock(dut)
    await driver.reset()
    await driver.load(program)
    whole = config.fixed_model().run(program.matrix, x_codes)
    reference = lstm_forward(x, **weights)

    result = await driver.run(first, program.hidden_size)
    check_against_golden(dut._log, config, program, result, first)
    result = await driver.run(second, program.hidden_size, keep_state=True)
    check_against_golden(dut._log, config, program, result, second,
                         h0=whole.h[len(first) - 1], c0=whole.c[len(first) - 1],
                         check_cycles=False)
    np.testing.assert_array_equal(result["h"], whole.h[len(first):])
    np.testing.assert_array_equal(result["c"], whole.c[len(first):])
    for name, fmt in (("h", config.data_format), ("c", config.cell_format)):
        error = np.abs(fmt.to_float(result[name]) - getattr(reference, name)[len(first):]).max()
        assert error <= FLOAT_TOLERANCE, f"{name} differs from float64 by {error}"
    assert result["activity"] == program.schedule.activity(len(second), keep_state=True)

    result = await driver.run(second, program.hidden_size, keep_state=False)
    check_against_golden(dut._log, config, program, result, second)


@cocotb.test()
async def test_saturating_lstm_counts_saturations(dut):
    """Large weights drive the pre-activations and the cell into saturation: the
    saturations port equals the golden model's count."""
    desc, config, weights, program, x = _setup(seed=4, scale=12.0, steps=12)
    x_codes = config.data_format.quantize(2.0 * x)
    driver = RPUDriver(dut, desc)
    start_clock(dut)
    await driver.reset()
    await driver.load(program)
    result = await driver.run(x_codes, program.hidden_size)
    fixed = check_against_golden(dut._log, config, program, result, x_codes)
    assert fixed.saturations > 0, "the LSTM did not saturate; the test lost its point"


@cocotb.test()
async def test_smaller_lstm_after_reload(dut):
    """A run of a full-size LSTM, then a new program and weights for an LSTM smaller than
    the capacity, on the same RPU (with stalls)."""
    desc, config, _, full, full_x = _setup(seed=6, steps=3)
    driver = RPUDriver(dut, desc, valid_activity=0.7, ready_activity=0.7, seed=13)
    start_clock(dut)
    await driver.reset()
    await driver.load(full)
    full_codes = config.data_format.quantize(full_x)
    result = await driver.run(full_codes, full.hidden_size)
    check_against_golden(dut._log, config, full, result, full_codes, check_cycles=False)

    _, _, weights, program, x = _setup(seed=5, input_size=2, hidden_size=3, steps=10)
    x_codes = config.data_format.quantize(x)
    await driver.load(program)
    result = await driver.run(x_codes, program.hidden_size)
    check_against_golden(dut._log, config, program, result, x_codes,
                         reference=lstm_forward(x, **weights), check_cycles=False)
