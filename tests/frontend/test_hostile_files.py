"""Hostile model and array files (issue 10): every one ends in ModelImportError/InputError
naming the file and the tensor or node, within a bounded memory and time.

Each test is named after the case; the loads that could exhaust memory or hang run in a
worker with ``RLIMIT_AS`` and a timeout (tests/frontend/sandbox.py), so that a regression
fails the test instead of the machine.
"""

import os
import struct

import numpy as np
import pytest

from rpu.frontend import ModelImportError, load_model, read_safetensors
from rpu.frontend.arrays import InputError, load_inputs_array, load_weights
from tests.frontend.hostile import (concat_doubling_onnx, npy_header, npz_members,
                                    plain_member, zeros_member, zip_archive)
from tests.frontend.sandbox import Sandbox
from tests.frontend.writers import (ONNX_FLOAT, lstm_onnx, node_pb, pb, stack_arrays, write,
                                    write_raw_safetensors, write_safetensors)


@pytest.fixture(scope="module")
def sandbox():
    worker = Sandbox(timeout=30.0)
    yield worker
    worker.close()


def assert_refused(result, *mentions):
    assert result["outcome"] == "refused", result
    for mention in mentions:
        assert mention in result["message"], (mention, result["message"])


# ---------------------------------------------------------------------------------------
# 1. Memory exhaustion from tiny files
# ---------------------------------------------------------------------------------------

def test_onnx_concat_doubling_bomb(tmp_path, sandbox):
    path = write(tmp_path / "bomb.onnx", concat_doubling_onnx(40))
    assert path.stat().st_size < 4096
    result = sandbox.load(path)
    assert_refused(result, str(path), "Concat node", "bytes of constants")


@pytest.fixture(scope="module")
def two_gib_of_zeros():
    """The compressed zip member of an .npy of 2 GiB of zeros (shape (2**28,) float64)."""
    return zeros_member(npy_header((1 << 28,)), 2048)


def test_npz_zip_bomb_parameter_refused_before_decompression(tmp_path, sandbox,
                                                             two_gib_of_zeros):
    members = npz_members(stack_arrays((2,), input_size=2))
    members["weight_ih_l0.npy"] = two_gib_of_zeros
    path = write(tmp_path / "bomb.npz", zip_archive(members))
    assert path.stat().st_size < 3 << 20
    result = sandbox.load(path)
    assert_refused(result, str(path), "weight_ih_l0", "(268435456,)")
    assert result["seconds"] < 5


def test_npz_zip_bomb_in_an_unused_array_is_never_decompressed(tmp_path, sandbox,
                                                               two_gib_of_zeros):
    members = npz_members(stack_arrays((2,), input_size=2))
    members["optimizer_state.npy"] = two_gib_of_zeros
    path = write(tmp_path / "bomb.npz", zip_archive(members))
    result = sandbox.load(path)
    assert result["outcome"] == "ok", result
    assert result["seconds"] < 5


def test_npz_zip_bomb_in_weights_file(tmp_path, sandbox, two_gib_of_zeros):
    arrays = stack_arrays((2,), input_size=2)
    members = npz_members({kind: arrays[f"{kind}_l0"] for kind in ("weight_hh",)})
    members["weight_ih.npy"] = two_gib_of_zeros
    path = write(tmp_path / "W.npz", zip_archive(members))
    result = sandbox.load(path, kind="weights")
    assert result["outcome"] == "refused", result
    assert "--weights" in result["message"]


THIRTY_TWO_TIB = (1 << 22, 1 << 20)  # float64: 2**45 bytes


def test_npz_header_declaring_32_tib(tmp_path):
    members = npz_members(stack_arrays((2,), input_size=2))
    members["weight_ih_l0.npy"] = plain_member(npy_header(THIRTY_TWO_TIB))
    path = write(tmp_path / "huge.npz", zip_archive(members))
    with pytest.raises(ModelImportError, match="weight_ih_l0.*16384"):
        load_model(path)


def test_npz_header_declaring_32_tib_in_an_unused_array(tmp_path):
    members = npz_members(stack_arrays((2,), input_size=2))
    members["extra.npy"] = plain_member(npy_header(THIRTY_TWO_TIB))
    assert load_model(write(tmp_path / "huge.npz", zip_archive(members))).hidden_size == 2


def test_npy_inputs_header_declaring_32_tib(tmp_path):
    path = write(tmp_path / "X.npy", npy_header(THIRTY_TWO_TIB))
    with pytest.raises(InputError, match="--inputs: shape .* more than"):
        load_inputs_array(path, "--inputs")


def test_npz_weights_header_declaring_32_tib(tmp_path):
    members = {"weight_ih.npy": plain_member(npy_header(THIRTY_TWO_TIB)),
               "weight_hh.npy": plain_member(npy_header((8, 2)) + bytes(128))}
    path = write(tmp_path / "W.npz", zip_archive(members))
    with pytest.raises(InputError, match="--weights: weight_ih has shape .* at most 16384"):
        load_weights(path)


def test_state_dict_layer_number_beyond_the_limit(tmp_path, sandbox):
    arrays = stack_arrays((2,), input_size=2)
    arrays["weight_ih_l99999999999"] = np.ones((8, 2))
    path = tmp_path / "many.npz"
    np.savez(path, **arrays)
    assert_refused(sandbox.load(path), "weight_ih_l99999999999", "at most 16 layers")
    arrays = stack_arrays((2,), input_size=2)
    arrays["weight_ih_l" + "9" * 5000] = np.ones((8, 2))
    np.savez(path, **arrays)
    assert_refused(sandbox.load(path), "at most 16 layers")


def test_state_dict_size_beyond_the_limit_refused_from_header(tmp_path):
    hidden = 16385
    header = {"weight_ih_l0": {"dtype": "F32", "shape": [4 * hidden, 1],
                               "data_offsets": [0, 16 * hidden]},
              "weight_hh_l0": {"dtype": "F32", "shape": [4 * hidden, hidden],
                               "data_offsets": [16 * hidden, 16 * hidden]}}
    # weight_hh_l0's data would be 4 GiB: the header is refused before its size is checked
    path = write_raw_safetensors(tmp_path / "big.safetensors", header, bytes(16 * hidden))
    with pytest.raises(ModelImportError):
        load_model(path)
    header["weight_hh_l0"]["data_offsets"] = [16 * hidden, 16 * hidden + 16 * hidden * hidden]
    with pytest.raises(ModelImportError, match="run past the end"):
        load_model(write_raw_safetensors(path, header, bytes(16 * hidden)))


def test_onnx_external_data_length_2_to_the_62(tmp_path, sandbox):
    (tmp_path / "w.bin").write_bytes(bytes(64))
    path = write(tmp_path / "m.onnx",
                 lstm_onnx("Wext", initializers=[_external_w("w.bin", length=1 << 62)]))
    assert_refused(sandbox.load(path), str(path), "'Wext'", "w.bin", str(1 << 62))


# ---------------------------------------------------------------------------------------
# 2. Malformed ONNX and safetensors
# ---------------------------------------------------------------------------------------

def test_onnx_identity_chain_2000_deep(tmp_path):
    nodes = [node_pb("Identity", ["W" if k == 0 else f"i{k - 1}"], [f"i{k}"])
             for k in range(2000)]
    model = load_model(write(tmp_path / "deep.onnx", lstm_onnx("i1999", nodes)))
    direct = load_model(write(tmp_path / "flat.onnx", lstm_onnx()))
    for kind in direct.layers[0]:
        np.testing.assert_array_equal(model.layers[0][kind], direct.layers[0][kind])


def test_onnx_identity_cycle_2000_long(tmp_path):
    nodes = [node_pb("Identity", [f"i{(k + 1) % 2000}"], [f"i{k}"], name=f"n{k}")
             for k in range(2000)]
    with pytest.raises(ModelImportError, match="cycle through Identity node"):
        load_model(write(tmp_path / "cycle.onnx", lstm_onnx("i0", nodes)))


@pytest.mark.parametrize("attributes", [dict(num_outputs=0), dict(split=[0, 0])])
def test_onnx_split_with_a_zero_size(tmp_path, attributes):
    nodes = [node_pb("Split", ["W"], ["s0"], name="split", **attributes)]
    path = write(tmp_path / "split.onnx", lstm_onnx("s0", nodes))
    with pytest.raises(ModelImportError, match=f"{path}: cannot evaluate Split node 'split'"):
        load_model(path)


@pytest.mark.parametrize("name,value,kind", [
    ("activations", 7, "strings"),
    ("activations", [1, 2, 3], "strings"),
    ("direction", 1, "string"),
    ("hidden_size", "2", "int"),
    ("layout", 1.0, "int"),
    ("clip", "x", "float"),
    ("activation_alpha", "x", "floats"),
    ("input_forget", [1], "int"),
])
def test_onnx_lstm_attributes_of_the_wrong_type(tmp_path, name, value, kind):
    path = write(tmp_path / "m.onnx", lstm_onnx(attributes={name: value}))
    with pytest.raises(ModelImportError, match=f"{path}: LSTM node 'lstm': attribute "
                                               f"'{name}' must be of type {kind}"):
        load_model(path)


def test_onnx_transpose_with_float_perm_on_the_input_path(tmp_path):
    nodes = [node_pb("Transpose", ["x"], ["xt"], name="t", perm=[1.0, 0.0, 2.0])]
    path = write(tmp_path / "m.onnx", lstm_onnx(nodes=nodes, x="xt"))
    with pytest.raises(ModelImportError, match="Transpose node 't': attribute 'perm' must be "
                                               "of type ints"):
        load_model(path)


def test_onnx_transpose_with_float_perm_in_a_weight_subgraph(tmp_path):
    nodes = [node_pb("Transpose", ["W"], ["wt"], name="t", perm=[0.0, 1.0, 2.0])]
    path = write(tmp_path / "m.onnx", lstm_onnx("wt", nodes))
    with pytest.raises(ModelImportError, match="cannot evaluate Transpose node 't': attribute "
                                               "'perm' must be of type ints"):
        load_model(path)


def test_onnx_initializer_dims_encoded_as_fixed32(tmp_path):
    bad = pb((1, 3.0), (2, ONNX_FLOAT), (8, "Wbad"), (9, bytes(12)))
    path = write(tmp_path / "m.onnx", lstm_onnx("Wbad", initializers=[bad]))
    with pytest.raises(ModelImportError, match=f"{path}: .*'Wbad'.*field 1 should be a varint"):
        load_model(path)


def test_safetensors_header_nested_100k_deep(tmp_path):
    header = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = write_raw_safetensors(tmp_path / "deep.safetensors", header, b"")
    with pytest.raises(ModelImportError, match=f"{path}: .*nested 100001 deep"):
        load_model(path)


def test_safetensors_brackets_inside_strings_do_not_count(tmp_path):
    arrays = stack_arrays((2,), input_size=2)
    path = write_safetensors(tmp_path / "m.safetensors", arrays,
                             metadata={"note": "[[[[[[[[[[{{{{{{{{{{\\\"[[[["})
    assert load_model(path).hidden_size == 2


# ---------------------------------------------------------------------------------------
# 3. Tensor ranks, external data, input arrays
# ---------------------------------------------------------------------------------------

def test_safetensors_66_dimensional_tensor(tmp_path):
    arrays = stack_arrays((2,), input_size=2)
    header = {"weight_ih_l0": {"dtype": "F32", "shape": [1] * 66, "data_offsets": [0, 4]},
              "weight_hh_l0": {"dtype": "F64", "shape": [8, 2], "data_offsets": [4, 132]}}
    data = bytes(4) + arrays["weight_hh_l0"].astype("<f8").tobytes()
    path = write_raw_safetensors(tmp_path / "m.safetensors", header, data)
    with pytest.raises(ModelImportError, match=f"{path}: tensor 'weight_ih_l0' has 66 "
                                               f"dimensions"):
        load_model(path)


def test_onnx_tensor_with_66_dimensions(tmp_path):
    bad = pb((1, [1] * 66), (2, ONNX_FLOAT), (8, "W66"), (9, bytes(4)))
    path = write(tmp_path / "m.onnx", lstm_onnx("W66", initializers=[bad]))
    with pytest.raises(ModelImportError, match="tensor 'W66': 66 dimensions"):
        load_model(path)


def _external_w(location, length=64):
    return pb((1, [1, 8, 2]), (2, ONNX_FLOAT), (8, "Wext"),
              (13, [pb((1, "location"), (2, location)), pb((1, "length"), (2, str(length)))]),
              (14, 1))


def test_onnx_external_data_in_a_fifo(tmp_path, sandbox):
    os.mkfifo(tmp_path / "w.bin")
    path = write(tmp_path / "m.onnx", lstm_onnx("Wext", initializers=[_external_w("w.bin")]))
    sandbox_result = sandbox.load(path)
    assert_refused(sandbox_result, str(path), "'Wext'", "not a regular file")


def test_onnx_external_data_outside_the_model_folder(tmp_path):
    (tmp_path / "outside.bin").write_bytes(bytes(64))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    for location in ("../outside.bin", "link.bin", str(tmp_path / "outside.bin")):
        path = write(folder / "m.onnx", lstm_onnx("Wext", initializers=[_external_w(location)]))
        with pytest.raises(ModelImportError, match="'Wext'.*outside the model's directory"):
            load_model(path)


def test_onnx_external_data_truncated(tmp_path):
    (tmp_path / "w.bin").write_bytes(bytes(60))
    path = write(tmp_path / "m.onnx", lstm_onnx("Wext", initializers=[_external_w("w.bin")]))
    with pytest.raises(ModelImportError, match="'Wext'.*w.bin.*truncated"):
        load_model(path)


@pytest.mark.parametrize("dtype", ["m8[s]", "M8[s]", "?", "c16", "U1"])
def test_inputs_of_a_non_real_dtype(tmp_path, dtype):
    np.save(tmp_path / "X.npy", np.zeros((3, 2), dtype=dtype))
    with pytest.raises(InputError, match="--inputs: must be a real numeric array"):
        load_inputs_array(tmp_path / "X.npy", "--inputs")


def test_weights_of_timedelta_dtype(tmp_path):
    np.savez(tmp_path / "W.npz", weight_ih=np.zeros((8, 2), "m8[s]"),
             weight_hh=np.zeros((8, 2)))
    with pytest.raises(InputError, match="--weights: weight_ih must be a real numeric array"):
        load_weights(tmp_path / "W.npz")


def test_inputs_truncated_data(tmp_path):
    path = write(tmp_path / "X.npy", npy_header((3, 2)) + bytes(40))
    with pytest.raises(InputError, match="--inputs: .*truncated"):
        load_inputs_array(path, "--inputs")


def test_inputs_fortran_order_read_as_numpy_does(tmp_path):
    x = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(tmp_path / "X.npy", x)
    np.testing.assert_array_equal(load_inputs_array(tmp_path / "X.npy", "--inputs"), x)


def test_safetensors_header_length_field_of_2_to_the_63(tmp_path):
    path = write(tmp_path / "m.safetensors", struct.pack("<Q", 1 << 63) + b"{}")
    with pytest.raises(ModelImportError, match="header length says"):
        load_model(path)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_safetensors_depth_scan_across_chunks(monkeypatch, chunk):
    from rpu.frontend import safetensors
    monkeypatch.setattr(safetensors, "_SCAN_CHUNK", chunk)
    texts = {b'{"a": [1, "x[[[", "\\\\", "\\"[["], "b": {"c": []}}': 3,
             b'"\\\\"[': 1, b'"\\\\\\"["': 0, b"": 0, b'{"a\\\\\\\\":[[]]}': 3,
             b'"\\\\\\\\\\\\"[]"[': 1, b"[" * 20 + b"]" * 20: 20}
    for text, depth in texts.items():
        assert safetensors.json_depth(text) == depth, text
    assert safetensors.json_depth(b"[" * 100, limit=8) <= 8 + chunk


@pytest.mark.parametrize("suffix", [".npy", ".safetensors", ".onnx"])
def test_empty_tensor_with_unrepresentable_dimensions(tmp_path, suffix):
    shape = (0, 1 << 62, 1 << 62)
    if suffix == ".npy":
        path = write(tmp_path / "X.npy", npy_header(shape))
        with pytest.raises(InputError, match="--inputs: .*shape"):
            load_inputs_array(path, "--inputs")
        return
    if suffix == ".safetensors":
        arrays = stack_arrays((2,), input_size=2)
        header = {"weight_ih_l0": {"dtype": "F32", "shape": list(shape),
                                   "data_offsets": [0, 0]},
                  "weight_hh_l0": {"dtype": "F64", "shape": [8, 2], "data_offsets": [0, 128]}}
        path = write_raw_safetensors(tmp_path / "m.safetensors", header,
                                     arrays["weight_hh_l0"].astype("<f8").tobytes())
        with pytest.raises(ModelImportError, match="weight_ih_l0"):
            load_model(path)
        with pytest.raises(ModelImportError, match=f"{path}: tensor 'weight_ih_l0' of shape"):
            read_safetensors(path)
        return
    bad = pb((1, list(shape)), (2, ONNX_FLOAT), (8, "Wempty"), (9, b""))
    path = write(tmp_path / "m.onnx", lstm_onnx("Wempty", initializers=[bad]))
    with pytest.raises(ModelImportError, match=f"{path}: tensor 'Wempty': shape"):
        load_model(path)
