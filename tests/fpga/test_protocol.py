"""The host link's byte protocol (rpu.fpga.protocol): CRC, frames, fields, word sizes."""

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.fpga import protocol
from rpu.fpga.protocol import (crc16, crc16_update, crc16_taps, encode_frame, FrameDecoder,
                               ProtocolError, SYNC)


def test_crc16_is_ccitt_false():
    # The catalogue's check value of CRC-16/CCITT-FALSE (CRC-16/IBM-3740) for "123456789".
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def _crc_bitwise_reference(data):
    """CRC-16/CCITT-FALSE, one message bit at a time (the textbook shift register)."""
    crc = 0xFFFF
    for byte in data:
        for k in range(7, -1, -1):
            feedback = ((crc >> 15) ^ (byte >> k)) & 1
            crc = ((crc << 1) & 0xFFFF) ^ (0x1021 if feedback else 0)
    return crc


def test_crc16_taps_reproduce_the_update():
    rng = np.random.default_rng(0)
    taps = crc16_taps()
    for _ in range(500):
        crc, byte = int(rng.integers(1 << 16)), int(rng.integers(256))
        xor = 0
        for bit, (crc_bits, byte_bits) in enumerate(taps):
            value = sum(crc >> k & 1 for k in crc_bits) + sum(byte >> k & 1 for k in byte_bits)
            xor |= (value & 1) << bit
        assert xor == crc16_update(crc, byte)
    data = bytes(rng.integers(0, 256, 300, dtype=np.uint8))
    assert crc16(data) == _crc_bitwise_reference(data)


def test_frame_layout_and_round_trip():
    frame = encode_frame(0x02, b"\x01\x02\x03")
    assert frame[:4] == bytes([SYNC, 0x02, 3, 0]) and frame[4:7] == b"\x01\x02\x03"
    assert int.from_bytes(frame[7:], "little") == _crc_bitwise_reference(frame[1:7])
    decoder = FrameDecoder()
    # Byte by byte, two frames back to back.
    frames = []
    for byte in frame + encode_frame(0x81):
        frames += decoder.feed(bytes([byte]))
    assert frames == [(0x02, b"\x01\x02\x03"), (0x81, b"")]
    assert decoder.pending() == 0


@pytest.mark.parametrize("corrupt, message", [
    (lambda f: bytes([0x00]) + f[1:], "sync"),
    (lambda f: f[:5] + bytes([f[5] ^ 0x10]) + f[6:], "CRC"),
    (lambda f: f[:-1] + bytes([f[-1] ^ 1]), "CRC"),
])
def test_decoder_rejects_corrupted_frames(corrupt, message):
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError, match=message):
        decoder.feed(corrupt(encode_frame(0x03, bytes(range(10)))))
    assert decoder.pending() == 0


def test_decoder_rejects_overlong_frames():
    with pytest.raises(ProtocolError, match="length 300 exceeds 256"):
        FrameDecoder(max_payload=256).feed(encode_frame(0x03, bytes(300)))


def test_fields_pack_little_endian():
    payload = protocol.pack_fields(protocol.START_FIELDS, {"steps": 0x1234, "keep_state": 1})
    assert payload == b"\x34\x12\x01"
    assert protocol.unpack_fields(protocol.START_FIELDS, payload) == {"steps": 0x1234,
                                                                      "keep_state": 1}
    with pytest.raises(ProtocolError, match="expected 3"):
        protocol.unpack_fields(protocol.START_FIELDS, b"\x00")
    # Every counter of the RPU is a 32-bit status field.
    sizes = dict(protocol.STATUS_FIELDS)
    assert sizes["cycles"] == sizes["saturations"] == sizes["columns"] == 4


def test_word_bytes_follow_the_rpu_streams():
    config = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                       activation_units=1, elementwise_units=1)
    # program: 8-bit address + 32-bit word; weights: 1 bit of array, 6 of address
    # (weight_depth 52), 4 lanes x 16 bits; state: target, index (3 bits), 16 bits of data.
    assert config.weight_depth == 52
    assert protocol.word_bytes(config, "program") == 5
    assert protocol.word_bytes(config, "weights") == 9       # 1 + 6 + 64 = 71 bits
    assert protocol.word_bytes(config, "state") == 3         # 1 + 0 + 3 + 16 = 20 bits
    assert protocol.word_bytes(config, "x") == 2
    assert protocol.word_bytes(config, "h") == 4
    assert protocol.max_pairs(config, 1024) == 255
    with pytest.raises(ValueError, match="stream must be"):
        protocol.word_bytes(config, "y")


def test_config_id_tells_configurations_apart():
    a = RPUConfig(input_size=4, hidden_size=8)
    assert protocol.config_id(a) == protocol.config_id(RPUConfig(input_size=4, hidden_size=8))
    assert protocol.config_id(a) != protocol.config_id(RPUConfig(input_size=4, hidden_size=9))


def test_payload_words_pack_as_the_hdl_testbenches_do():
    from rpu.hw.top import weight_layout, state_layout, program_layout
    from rpu.sim.interface import packer
    config = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                       activation_units=1, elementwise_units=1)
    weights = {"array": 1, "addr": 51, "data": [-1, 2, -32768, 32767]}
    state = {"target": 1, "layer": 0, "index": 5, "data": 0xBEEF}
    program = {"addr": 33, "data": 0xDEADBEEF}
    assert protocol.payload_word(config, "weights", weights) == \
        packer(weight_layout(config))(weights)
    assert protocol.payload_word(config, "state", state) == packer(state_layout(config))(state)
    assert protocol.payload_word(config, "program", program) == 33 | 0xDEADBEEF << 8
    assert packer(program_layout())(program) == 33 | 0xDEADBEEF << 8
    # Lane 0 in the lowest data bits, after the 1-bit array and 6-bit address fields.
    word = protocol.payload_word(config, "weights", weights)
    assert word & 1 == 1 and (word >> 1) & 63 == 51 and (word >> 7) & 0xFFFF == 0xFFFF
    with pytest.raises(ValueError, match="stream must be program, weights or state"):
        protocol.payload_word(config, "x", 0)
