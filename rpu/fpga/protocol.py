"""The host link's byte protocol, defined once for the gateware (:mod:`rpu.fpga.link`) and the
host driver (:mod:`rpu.host`).

The link is a UART, 8 data bits, no parity, 1 stop bit (8N1), LSB first, at
:data:`DEFAULT_BAUD_RATE` unless the board is built for another rate.

Frames
------
Both directions carry the same frames::

    SYNC  CMD  LEN_LO  LEN_HI  PAYLOAD[LEN]  CRC_LO  CRC_HI

``SYNC`` is :data:`SYNC`; ``LEN`` is the payload's length in bytes (at most the board's
``max_payload``, :data:`DEFAULT_MAX_PAYLOAD` by default); the CRC is CRC-16/CCITT-FALSE
(polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR; :func:`crc16`) over
``CMD``, ``LEN`` and ``PAYLOAD``. Multi-byte numbers are little endian.

Every request gets exactly one response frame (stop and wait): the request's command with
bit 7 set (:func:`response_of`) and the command's result as payload, or an :data:`ERROR` frame
whose payload is :data:`ERROR_FIELDS` (an :class:`Error` code, the command byte received, the
board's error counter after the error). Nothing of a frame with an error takes effect. A frame
with a line error (bad sync byte, UART framing error, receiver overrun, too long) is
discarded up to the first gap of ``timeout`` in the byte stream, and answered then, once; a
frame that stops part way is answered with :attr:`Error.TIMEOUT` after that gap.

Commands
--------
=========  ====  =====================================================  ======================
command    code  request payload                                        response payload
=========  ====  =====================================================  ======================
PING       0x01  (none)                                                 :data:`INFO_FIELDS`
PROGRAM    0x02  program words, :func:`word_bytes` ``"program"`` each     (none)
WEIGHTS    0x03  weight words, ``"weights"`` bytes each                   (none)
STATE      0x04  state words, ``"state"`` bytes each                      (none)
START      0x05  ``steps`` (2 bytes, >= 1), ``keep_state`` (1 byte)       (none)
STREAM     0x06  x words, ``"x"`` bytes each (at most the x FIFO's room)  x room (2), (h, c) pairs
STATUS     0x07  (none)                                                 :data:`STATUS_FIELDS`
RESET      0x08  (none)                                                 (none)
=========  ====  =====================================================  ======================

A word is the payload of the RPU's stream of that name (:class:`rpu.hw.top.RPU`), its bits
packed little endian into :func:`word_bytes` bytes. PROGRAM, WEIGHTS, STATE and START are
refused with :attr:`Error.BUSY` while a run is in progress. STREAM puts its x words into the
board's x FIFO (refused with :attr:`Error.OVERFLOW` if they do not fit) and answers with the
room left in the x FIFO (:data:`STREAM_ROOM_BYTES` bytes, words) and up to :func:`max_pairs`
(h, c) pairs from the h FIFO (``"h"`` bytes each, h in the low ``data_width`` bits).

RESET resets the RPU and empties both FIFOs (a run is abandoned); it clears the program
registers, not the memories (weights, state), so a host writes the program words again, not
the weights.
"""

import enum
import json
import zlib
from math import ceil

from rpu.hw.top import (ACTIVITY_COUNTERS, weight_layout, state_layout, program_layout,
                        output_layout)


__all__ = ["PROTOCOL_VERSION", "SYNC", "DEFAULT_BAUD_RATE", "DEFAULT_MAX_PAYLOAD",
           "DEFAULT_FIFO_DEPTH", "HEADER_BYTES", "CRC_BYTES", "Command", "Error", "ERROR",
           "INFO_FIELDS", "STATUS_FIELDS", "ERROR_FIELDS", "START_FIELDS", "crc16",
           "crc16_update", "crc16_taps", "CRC_INIT", "encode_frame", "FrameDecoder",
           "ProtocolError", "STREAM_ROOM_BYTES", "response_of", "word_bits", "word_bytes",
           "STREAM_OF", "config_id", "payload_word", "ACTIVITY_COUNTERS",
           "max_pairs", "pack_fields", "unpack_fields", "fields_size", "pack_word",
           "unpack_word"]


PROTOCOL_VERSION = 1
#: First byte of every frame.
SYNC = 0xA5
DEFAULT_BAUD_RATE = 115200
#: Largest payload of a frame (bytes) unless the board is built for another.
DEFAULT_MAX_PAYLOAD = 1024
#: Words of the board's x FIFO and (h, c) pairs of its h FIFO unless built for others.
DEFAULT_FIFO_DEPTH = 512
#: SYNC, CMD, LEN (2 bytes).
HEADER_BYTES = 4
CRC_BYTES = 2
#: Bytes of the x FIFO's room at the start of a STREAM response.
STREAM_ROOM_BYTES = 2
CRC_INIT = 0xFFFF
CRC_POLY = 0x1021


class Command(enum.IntEnum):
    PING = 0x01
    PROGRAM = 0x02
    WEIGHTS = 0x03
    STATE = 0x04
    START = 0x05
    STREAM = 0x06
    STATUS = 0x07
    RESET = 0x08


#: Command byte of an error response.
ERROR = 0xFF


class Error(enum.IntEnum):
    """Codes of an :data:`ERROR` response."""
    SYNC = 1        #: a frame did not start with SYNC
    FRAMING = 2     #: a byte's stop bit was low (UART framing error)
    OVERRUN = 3     #: a byte arrived before the previous one was taken
    LENGTH = 4      #: LEN larger than the board's max_payload
    TIMEOUT = 5     #: the frame stopped part way
    CRC = 6         #: CRC mismatch
    COMMAND = 7     #: unknown command
    SIZE = 8        #: payload not a whole number of words (or the wrong size)
    BUSY = 9        #: a load or START while a run is in progress
    OVERFLOW = 10   #: more x words than the x FIFO has room for
    ARGUMENT = 11   #: START with steps = 0


def response_of(command):
    """Command byte of the successful response to ``command`` (an int, or an Amaranth
    value in the gateware)."""
    return (command if hasattr(command, "shape") else int(command)) | 0x80


#: Streams of the RPU that the word commands write.
STREAM_OF = {Command.PROGRAM: "program", Command.WEIGHTS: "weights", Command.STATE: "state",
             Command.STREAM: "x"}

#: Payload fields (name, bytes) of the responses and of START.
INFO_FIELDS = (("version", 1), ("config_id", 4), ("max_payload", 2), ("x_depth", 2),
               ("h_depth", 2), ("program_bytes", 1), ("weights_bytes", 1), ("state_bytes", 1),
               ("x_bytes", 1), ("h_bytes", 1))
STATUS_FIELDS = (("busy", 1), ("errors", 4), ("cycles", 4), ("saturations", 4),
                 *((name, 4) for name in ACTIVITY_COUNTERS), ("x_level", 2), ("h_level", 2))
ERROR_FIELDS = (("code", 1), ("command", 1), ("errors", 4))
START_FIELDS = (("steps", 2), ("keep_state", 1))


def fields_size(fields):
    return sum(size for _, size in fields)


def pack_fields(fields, values):
    """``values`` (a dict) as the little-endian bytes of ``fields``."""
    out = bytearray()
    for name, size in fields:
        out += int(values[name]).to_bytes(size, "little")
    return bytes(out)


def unpack_fields(fields, payload):
    """The dict of ``fields`` in ``payload`` (exactly their size)."""
    if len(payload) != fields_size(fields):
        raise ProtocolError(f"payload of {len(payload)} bytes, expected "
                            f"{fields_size(fields)}")
    values, offset = {}, 0
    for name, size in fields:
        values[name] = int.from_bytes(payload[offset:offset + size], "little")
        offset += size
    return values


def word_bits(config, stream):
    """Payload bits of the RPU's stream ``stream`` (``program``, ``weights``, ``state``,
    ``x``, ``h``)."""
    if stream == "program":
        return program_layout().size
    if stream == "weights":
        return weight_layout(config).size
    if stream == "state":
        return state_layout(config).size
    if stream == "x":
        return config.data_width
    if stream == "h":
        return output_layout(config).size
    raise ValueError(f"stream must be program, weights, state, x or h, not {stream!r}")


def payload_word(config, stream, value):
    """A payload of the RPU's stream ``stream`` (``program``, ``weights``, ``state``; a dict
    of its fields, as :mod:`rpu.sim.session` drives them) as the integer of its bits."""
    layouts = {"program": program_layout, "weights": weight_layout, "state": state_layout}
    if stream not in layouts:
        raise ValueError(f"stream must be program, weights or state, not {stream!r}")
    layout = layouts[stream]() if stream == "program" else layouts[stream](config)
    return layout.const(value).as_value().value


def word_bytes(config, stream):
    """Bytes of one word of ``stream`` in a frame."""
    return ceil(word_bits(config, stream) / 8)


def max_pairs(config, max_payload=DEFAULT_MAX_PAYLOAD):
    """Most (h, c) pairs in one STREAM response."""
    return (max_payload - STREAM_ROOM_BYTES) // word_bytes(config, "h")


def config_id(config):
    """A 32-bit identifier of an RPU configuration (CRC-32 of its canonical JSON), which a
    board reports in PING so that the host loads only programs compiled for it."""
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    return zlib.crc32(text.encode())


def pack_word(value, nbytes):
    return int(value).to_bytes(nbytes, "little")


def unpack_word(data):
    return int.from_bytes(data, "little")


# CRC ---------------------------------------------------------------------------------------

def crc16_update(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte."""
    crc ^= (byte & 0xFF) << 8
    for _ in range(8):
        crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def crc16(data, crc=CRC_INIT):
    for byte in data:
        crc = crc16_update(crc, byte)
    return crc


def crc16_taps():
    """For each bit of the next CRC: the bits of the CRC and of the byte it is the XOR of.

    :func:`crc16_update` is linear over GF(2) in (crc, byte), so evaluating it on unit
    vectors gives the XOR network the gateware builds; the CRC is defined only here.

    Returns
    -------
    list of (tuple of int, tuple of int)
        ``(crc_bits, byte_bits)`` for bits 0..15.
    """
    crc_columns = [crc16_update(1 << k, 0) for k in range(16)]
    byte_columns = [crc16_update(0, 1 << k) for k in range(8)]
    return [(tuple(k for k in range(16) if crc_columns[k] >> bit & 1),
             tuple(k for k in range(8) if byte_columns[k] >> bit & 1)) for bit in range(16)]


# Frames ------------------------------------------------------------------------------------

class ProtocolError(RuntimeError):
    """A frame that breaks the protocol (bad sync, CRC, length), or an error response."""


def encode_frame(command, payload=b""):
    """The bytes of one frame."""
    payload = bytes(payload)
    if not 0 <= command <= 0xFF:
        raise ValueError(f"command must be a byte, not {command}")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes is longer than 65535")
    body = bytes([command]) + len(payload).to_bytes(2, "little") + payload
    return bytes([SYNC]) + body + crc16(body).to_bytes(2, "little")


class FrameDecoder:
    """Splits a byte stream into ``(command, payload)`` frames, checking sync and CRC.

    Feed bytes with :meth:`feed`; it returns the frames completed. A bad sync byte or CRC
    raises :class:`ProtocolError` (the decoder is then reset).
    """

    def __init__(self, max_payload=0xFFFF):
        self.max_payload = max_payload
        self._buffer = bytearray()

    def reset(self):
        self._buffer.clear()

    def pending(self):
        return len(self._buffer)

    def feed(self, data):
        self._buffer += data
        frames = []
        while self._buffer:
            if self._buffer[0] != SYNC:
                byte = self._buffer[0]
                self.reset()
                raise ProtocolError(f"expected the sync byte 0x{SYNC:02x}, got 0x{byte:02x}")
            if len(self._buffer) < HEADER_BYTES:
                break
            length = int.from_bytes(self._buffer[2:4], "little")
            if length > self.max_payload:
                self.reset()
                raise ProtocolError(f"frame length {length} exceeds {self.max_payload}")
            end = HEADER_BYTES + length + CRC_BYTES
            if len(self._buffer) < end:
                break
            frame = bytes(self._buffer[:end])
            del self._buffer[:end]
            expected = crc16(frame[1:-CRC_BYTES])
            received = int.from_bytes(frame[-CRC_BYTES:], "little")
            if expected != received:
                self.reset()
                raise ProtocolError(f"CRC mismatch: received 0x{received:04x}, computed "
                                    f"0x{expected:04x}")
            frames.append((frame[1], frame[HEADER_BYTES:-CRC_BYTES]))
        return frames
