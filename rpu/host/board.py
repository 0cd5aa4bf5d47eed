"""The host driver of a board running the RPU behind its serial link (:mod:`rpu.fpga`).

::

    from rpu.host import Board
    with Board("/dev/ttyUSB0") as board:
        board.load(program)                 # a Program of rpu.compiler.expansion
        h, counters = board.run(x_codes)    # (T, I) data-format codes -> (T, H) codes

The same driver talks to a simulated board (:class:`rpu.host.simulated.SimulatedBoard`),
whose pseudo-terminal is opened like a USB serial port. Every frame is checked (sync byte,
length, CRC); an error response of the board raises :class:`BoardError` with its code.
"""

import time
from dataclasses import dataclass

import numpy as np

from rpu.compiler import Program
from rpu.fpga import protocol
from rpu.fpga.protocol import (Command, Error, ProtocolError, ACTIVITY_COUNTERS,
                               payload_word)
from rpu.sim.session import complete_run_result


__all__ = ["run_on_board", "Board", "BoardError", "BoardTimeout", "Counters"]


class BoardError(RuntimeError):
    """The board answered with an error frame (:attr:`code`, an
    :class:`rpu.fpga.protocol.Error`), or it does not match the program."""

    def __init__(self, message, code=None, errors=None):
        super().__init__(message)
        self.code = code
        self.errors = errors


class BoardTimeout(BoardError):
    """The board did not answer in time."""


@dataclass(frozen=True)
class Counters:
    """The board's counters after a run (see :class:`rpu.hw.top.RPU`)."""
    cycles: int
    saturations: int
    activity: dict
    errors: int


class Board:
    """A board with the RPU behind a UART.

    Parameters
    ----------
    port : str
        The serial port (``/dev/ttyUSB0``, ``COM3``, a pseudo-terminal's path).
    baudrate : int
        The rate the board was built for (default
        :data:`rpu.fpga.protocol.DEFAULT_BAUD_RATE`).
    timeout : float
        Seconds to wait for a response.
    serial : object, optional
        An open pyserial-like port to use instead of opening ``port``.
    """

    def __init__(self, port=None, *, baudrate=protocol.DEFAULT_BAUD_RATE, timeout=5.0,
                 serial=None):
        if serial is None:
            import serial as pyserial
            serial = pyserial.Serial(port, baudrate=baudrate, bytesize=8, parity="N",
                                     stopbits=1, timeout=timeout)
        self.serial = serial
        self.timeout = timeout
        self.program = None
        self.last_result = None
        if hasattr(serial, "reset_input_buffer"):
            serial.reset_input_buffer()     # what a previous session left unread
        self.info = self.ping()
        if self.info["version"] != protocol.PROTOCOL_VERSION:
            raise BoardError(f"the board speaks protocol version {self.info['version']}, "
                             f"this driver {protocol.PROTOCOL_VERSION}")

    # Frames ------------------------------------------------------------------------------

    def send_raw(self, data):
        """Write bytes as they are (tests inject broken frames with this)."""
        self.serial.write(bytes(data))
        self.serial.flush()

    def _read(self, count):
        data = bytearray()
        deadline = time.monotonic() + self.timeout
        while len(data) < count:
            chunk = self.serial.read(count - len(data))
            if chunk:
                data += chunk
            elif time.monotonic() > deadline:
                raise BoardTimeout(f"the board did not answer within {self.timeout} s "
                                   f"({len(data)} of {count} bytes)")
        return bytes(data)

    def read_frame(self):
        """The next frame from the board: ``(command, payload)``."""
        header = self._read(protocol.HEADER_BYTES)
        if header[0] != protocol.SYNC:
            raise ProtocolError(f"expected the sync byte 0x{protocol.SYNC:02x}, got "
                                f"0x{header[0]:02x}")
        length = int.from_bytes(header[2:4], "little")
        rest = self._read(length + protocol.CRC_BYTES)
        decoder = protocol.FrameDecoder()
        ((command, payload),) = decoder.feed(header + rest)
        return command, payload

    def transact(self, command, payload=b""):
        """Send one request, return the payload of its response.

        Raises
        ------
        BoardError
            The board answered with an error frame.
        """
        self.send_raw(protocol.encode_frame(command, payload))
        return self.expect(command)

    def expect(self, command):
        """Read the response to ``command``; raise :class:`BoardError` for an error frame."""
        code, payload = self.read_frame()
        if code == protocol.ERROR:
            fields = protocol.unpack_fields(protocol.ERROR_FIELDS, payload)
            try:
                name = Error(fields["code"]).name
            except ValueError:
                name = str(fields["code"])
            raise BoardError(f"the board reports error {name} (command 0x"
                             f"{fields['command']:02x}, {fields['errors']} errors so far)",
                             code=fields["code"], errors=fields["errors"])
        if code != protocol.response_of(command):
            raise ProtocolError(f"expected the response 0x{protocol.response_of(command):02x},"
                                f" got 0x{code:02x}")
        return payload

    # Commands ----------------------------------------------------------------------------

    def ping(self):
        """The board's :data:`rpu.fpga.protocol.INFO_FIELDS`."""
        return protocol.unpack_fields(protocol.INFO_FIELDS, self.transact(Command.PING))

    def status(self):
        """The board's :data:`rpu.fpga.protocol.STATUS_FIELDS`."""
        return protocol.unpack_fields(protocol.STATUS_FIELDS, self.transact(Command.STATUS))

    def reset(self):
        """Reset the RPU and empty its FIFOs (abandons a run). The reset clears the program
        registers but not the memories: the loaded program's registers are written again,
        and its weights stay."""
        self.transact(Command.RESET)
        if self.program is not None:
            self.load(self.program, weights=False)

    def _write_words(self, command, words, nbytes):
        per_frame = self.info["max_payload"] // nbytes
        for start in range(0, len(words), per_frame):
            chunk = words[start:start + per_frame]
            self.transact(command, b"".join(protocol.pack_word(w, nbytes) for w in chunk))

    def _check_program(self, program):
        if not isinstance(program, Program):
            raise TypeError(f"program must be a Program, not {program!r}")
        if protocol.config_id(program.config) != self.info["config_id"]:
            raise BoardError("the program was compiled for another RPU configuration than "
                             "the board's (config_id differs)")

    def load(self, program, *, weights=True):
        """Write ``program``'s registers and (unless ``weights`` is false) its weight
        images."""
        self._check_program(program)
        config = program.config
        words = [payload_word(config, "program", {"addr": a, "data": d})
                 for a, d in program.registers]
        self._write_words(Command.PROGRAM, words, self.info["program_bytes"])
        if weights:
            image = program.weight_image
            words = [payload_word(config, "weights", {
                         "array": array, "addr": address,
                         "data": [int(v) for v in image[array, address]]})
                     for array in range(image.shape[0]) for address in range(image.shape[1])]
            self._write_words(Command.WEIGHTS, words, self.info["weights_bytes"])
        self.program = program

    def load_state(self, h0=None, c0=None):
        """Write the state the next run with ``keep_state`` starts from (one code array per
        layer, None for zeros)."""
        if self.program is None:
            raise BoardError("load a program before its state")
        words = [payload_word(self.program.config, "state", payload)
                 for payload in self.program.state_words(h0, c0)]
        self._write_words(Command.STATE, words, self.info["state_bytes"])

    def run(self, x_codes, *, keep_state=False, timeout=None):
        """Run the loaded program on ``x_codes`` (T, I) and return ``(h, counters)``: the last
        layer's h codes (T, H) and the board's :class:`Counters`. The complete result (c, every
        streamed layer, the raw outputs) is in :attr:`last_result`."""
        program = self.program
        if program is None:
            raise BoardError("load a program before running it")
        config = program.config
        x = np.asarray(x_codes)
        I = program.input_size
        if x.ndim != 2 or x.shape[1] != I or not 1 <= x.shape[0] <= 65535:
            raise ValueError(f"x_codes must have shape (T, {I}) with 1 <= T <= 65535, not "
                             f"{x.shape}")
        fmt = config.data_format
        if x.min() < fmt.min_code or x.max() > fmt.max_code:
            raise ValueError(f"x_codes must be codes of {fmt}")
        steps = x.shape[0]
        expected = steps * program.schedule.outputs_per_step()
        x_bytes, h_bytes = self.info["x_bytes"], self.info["h_bytes"]
        W = config.data_width
        mask = (1 << W) - 1
        words = [int(v) & mask for v in x.reshape(-1)]
        room_bytes = protocol.STREAM_ROOM_BYTES
        per_frame = self.info["max_payload"] // x_bytes
        sent, outputs = 0, []

        def stream(room):
            """One STREAM exchange: as many x words as fit; returns the room left."""
            nonlocal sent
            count = min(len(words) - sent, room, per_frame)
            payload = self.transact(Command.STREAM, b"".join(
                protocol.pack_word(w, x_bytes) for w in words[sent:sent + count]))
            sent += count
            pairs = payload[room_bytes:]
            for offset in range(0, len(pairs), h_bytes):
                value = int.from_bytes(pairs[offset:offset + h_bytes], "little")
                outputs.append((_signed(value & mask, W), _signed(value >> W & mask, W)))
            return int.from_bytes(payload[:room_bytes], "little")

        # The x FIFO is filled before the start, so that a run that fits it never waits for
        # the link: its cycle count is then the RPU's own.
        status = self.status()
        if status["busy"] or status["h_level"]:
            raise BoardError("the board is busy or holds outputs of another run; reset() it")
        room = self.info["x_depth"] - status["x_level"]
        while sent < len(words) and room:
            room = stream(room)
        self.transact(Command.START, protocol.pack_fields(
            protocol.START_FIELDS, {"steps": steps, "keep_state": int(bool(keep_state))}))
        deadline = time.monotonic() + (timeout or max(60.0, 10 * self.timeout))
        while len(outputs) < expected:
            if time.monotonic() > deadline:
                raise BoardTimeout(f"the run did not finish: {len(outputs)} of {expected} "
                                   f"outputs, {sent} of {len(words)} inputs sent")
            room = stream(room)
        if len(outputs) != expected:
            raise BoardError(f"the board sent {len(outputs)} outputs, expected {expected}")
        status = self.status()
        while status["busy"]:
            if time.monotonic() > deadline:
                raise BoardTimeout("the board stays busy after the run's last output")
            status = self.status()
        activity = {name: status[name] for name in ACTIVITY_COUNTERS}
        self.last_result = complete_run_result(
            program, steps, outputs, cycles=status["cycles"], run_cycles=status["cycles"],
            saturations=status["saturations"], activity=activity)
        counters = Counters(status["cycles"], status["saturations"], activity,
                            status["errors"])
        return self.last_result.h, counters

    # Resources ---------------------------------------------------------------------------

    def close(self):
        self.serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _signed(value, width):
    return value - (1 << width) if value >> (width - 1) else value


def run_on_board(program, runs, port, *, baud_rate=protocol.DEFAULT_BAUD_RATE):
    """Load ``program`` into the board at ``port`` (a serial port, e.g. ``/dev/ttyUSB0``)
    and run it on each of ``runs`` (data-format codes, (T, I) each), from a zero state:
    a list of :class:`rpu.sim.session.RunResult`, as a simulator gives (cycles, saturations
    and activity from the board's counters).

    Raises
    ------
    ValueError
        If the port cannot be opened (the message names ``--device``) or ``baud_rate`` is
        not a positive integer.
    """
    import serial
    if isinstance(baud_rate, bool) or not isinstance(baud_rate, int) or baud_rate < 1:
        raise ValueError(f"--baud-rate must be a positive integer, not {baud_rate!r}")
    try:
        board = Board(port, baudrate=baud_rate)
    except serial.SerialException as error:
        raise ValueError(f"--device {port}: {error}") from None
    results = []
    with board:
        board.load(program)
        for x_codes in runs:
            board.run(x_codes)
            results.append(board.last_result)
    return results
