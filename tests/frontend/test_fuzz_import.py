"""Property-based fuzzing of every importer: mutated model and array files load or are refused.

Valid files (``tests/data/import`` and tiny ones made here) are mutated: bytes flipped,
overwritten with boundary values or little-endian sizes, inserted, the file truncated, and,
knowing the format, header edits (numbers of a safetensors header or of an ``.npy`` header's
shape replaced, JSON nested deeper, ONNX varints rewritten). Each mutated file is loaded in
a worker process under ``RLIMIT_AS`` and a time bound (tests/frontend/sandbox.py); the only
allowed outcomes are success and ModelImportError/InputError with a message.

The default run is reproducible (``derandomize=True``) and short; the ``long`` marker
(``make test-long``) runs thousands of examples per format.
"""

import io
import re
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.frontend.hostile import plain_member, zip_archive
from tests.frontend.sandbox import Sandbox
from tests.frontend.writers import lstm_onnx, stack_arrays, write_safetensors
from tests.helpers import IMPORT_DATA


#: Examples per format in the default run and under ``-m long``.
DEFAULT_EXAMPLES, LONG_EXAMPLES = 100, 2500
#: Seconds one load may take.
LOAD_SECONDS = 10.0

_SIZES = [0, 1, 2, 3, 4, 7, 8, 255, 256, 65535, 65536, 1 << 31, (1 << 32) - 1, 1 << 32,
          1 << 62, (1 << 63) - 1, (1 << 64) - 1]


def _tiny_files(folder):
    """Tiny valid files of every format, written into ``folder``."""
    arrays = stack_arrays((2, 3), input_size=2)
    np.savez(folder / "tiny.npz", **arrays)
    np.savez(folder / "tiny_weights.npz", **{kind: arrays[f"{kind}_l0"] for kind in
                                              ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    write_safetensors(folder / "tiny.safetensors", arrays, metadata={"batch_first": "0"})
    (folder / "tiny.onnx").write_bytes(lstm_onnx())
    np.save(folder / "tiny.npy", np.arange(12.0).reshape(6, 2))
    np.save(folder / "tiny_i8.npy", np.arange(6, dtype=np.int8).reshape(3, 2))


def _seeds(folder, suffix):
    local = sorted(folder.glob(f"*{suffix}"))
    committed = sorted(IMPORT_DATA.glob(f"*{suffix}")) if suffix != ".npy" else []
    # the smaller committed files keep the examples fast
    committed = [path for path in committed
                 if path.stat().st_size <= 64 << 10 and path.name != "reference.npz"]
    return [(path.name, path.read_bytes()) for path in local + committed]


# ---------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------

def _flip(data, draw):
    position = draw(st.integers(0, max(len(data) - 1, 0)))
    if not data:
        return data
    return data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + \
        data[position + 1:]


def _overwrite(data, draw):
    position = draw(st.integers(0, len(data)))
    value = draw(st.sampled_from(_SIZES))
    width = draw(st.sampled_from([1, 2, 4, 8]))
    chunk = (value % (1 << (8 * width))).to_bytes(width, "little")
    return data[:position] + chunk + data[position + width:]


def _insert(data, draw):
    position = draw(st.integers(0, len(data)))
    chunk = draw(st.one_of(st.binary(min_size=1, max_size=16),
                           st.sampled_from([b"[" * 64, b"{" * 64, b"\x80" * 12, b"\xff" * 9])))
    return data[:position] + chunk + data[position:]


def _truncate(data, draw):
    return data[:draw(st.integers(0, max(len(data) - 1, 0)))]


def _varint(data, draw):
    """Rewrite a byte run as a protobuf varint of a boundary value (ONNX sizes, tags)."""
    position = draw(st.integers(0, len(data)))
    value = draw(st.sampled_from(_SIZES))
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            break
    return data[:position] + bytes(out) + data[position + len(out):]


def _json_numbers(data, draw):
    """In a safetensors header, replace one number with a boundary value, or nest a list."""
    if len(data) < 8:
        return data
    size = struct.unpack("<Q", data[:8])[0]
    header = data[8:8 + size]
    numbers = [m.span() for m in re.finditer(rb"\d+", header)]
    if numbers and draw(st.booleans()):
        begin, end = numbers[draw(st.integers(0, len(numbers) - 1))]
        new = str(draw(st.sampled_from(_SIZES + [-1]))).encode()
    else:
        brackets = [m.start() for m in re.finditer(rb"\[", header)] or [0]
        begin = end = brackets[draw(st.integers(0, len(brackets) - 1))]
        depth = draw(st.sampled_from([1, 5, 50, 5000]))
        new = b"[" * depth
        header = header[:begin] + new + header[end:]
        closing = header.find(b"]", begin + depth)
        header = header[:closing] + b"]" * depth + header[closing:] if closing >= 0 else header
        return struct.pack("<Q", len(header)) + header + data[8 + size:]
    header = header[:begin] + new + header[end:]
    return struct.pack("<Q", len(header)) + header + data[8 + size:]


def _npy_shape(data, draw):
    """Replace the shape in an .npy header (the data stays as it was)."""
    match = re.search(rb"'shape': \(([^)]*)\)", data[:512])
    if not match:
        return data
    dims = draw(st.lists(st.sampled_from(_SIZES[:12] + [1 << 40]), max_size=5))
    shape = "(" + "".join(f"{d}, " for d in dims) + ")"
    return data[:match.start(1) - 1] + shape.encode() + data[match.end(1) + 1:]


def _npz_member_shape(data, draw):
    """Rebuild an .npz with one member's .npy header shape changed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    except Exception:  # a mutated archive: leave it
        return data
    if not members:
        return data
    names = sorted(members)
    name = names[draw(st.integers(0, len(names) - 1))]
    members[name] = _npy_shape(members[name], draw)
    return zip_archive({key: plain_member(value) for key, value in members.items()})


_GENERIC = [_flip, _overwrite, _insert, _truncate]
_FORMAT_AWARE = {".safetensors": [_json_numbers], ".npz": [_npz_member_shape],
                 ".npy": [_npy_shape], ".onnx": [_varint]}


@st.composite
def mutated(draw, seeds, suffix):
    name, data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(_GENERIC + _FORMAT_AWARE[suffix]))
        data = mutation(data, draw)
    return name, data


# ---------------------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    _tiny_files(folder)
    sandbox = Sandbox(timeout=LOAD_SECONDS)
    yield folder, sandbox
    sandbox.close()


#: suffix -> what loads it (the sandbox's ``kind``; tiny_weights.npz is loaded as weights)
FORMATS = {".npz": "model", ".safetensors": "model", ".onnx": "model", ".npy": "inputs"}


def _check_format(workspace, suffix, examples):
    folder, sandbox = workspace
    seeds = _seeds(folder, suffix)
    (folder / "mutated").mkdir(exist_ok=True)
    target = folder / "mutated" / f"mutated{suffix}"

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(seeds, suffix))
    def load_mutated(example):
        name, data = example
        target.write_bytes(data)
        kind = FORMATS[suffix]
        if name == "tiny_weights.npz":
            kind = "weights"
        result = sandbox.load(target, kind=kind)
        assert result["outcome"] in ("ok", "refused"), (name, len(data), result)
        if result["outcome"] == "refused":
            assert result["message"].strip(), result
        assert result["seconds"] < LOAD_SECONDS, result

    load_mutated()


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_fuzz_importer(workspace, suffix):
    _check_format(workspace, suffix, DEFAULT_EXAMPLES)


@pytest.mark.long
@pytest.mark.parametrize("suffix", list(FORMATS))
def test_fuzz_importer_long(workspace, suffix):
    _check_format(workspace, suffix, LONG_EXAMPLES)


def test_seeds_load(workspace):
    """The unmutated seeds load: the fuzzing starts from valid files."""
    folder, sandbox = workspace
    for suffix, kind in FORMATS.items():
        for name, _ in _seeds(folder, suffix):
            result = sandbox.load(folder / name if (folder / name).exists()
                                  else IMPORT_DATA / name,
                                  kind="weights" if name == "tiny_weights.npz" else kind)
            assert result["outcome"] == "ok", (name, result)
