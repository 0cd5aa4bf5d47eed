"""Tests of :mod:`rpu.frontend`: trained models from every format against torch.

The model files and torch's outputs on them are in ``tests/data/import/``, made by
``scripts/gen_import_vectors.py``; torch, onnx and safetensors are not needed here (the
``.pt`` files are loaded only where torch happens to be installed). Each imported model is
run by the float64 golden model, chained over its layers, and compared with torch:

* to 1e-12 with torch's float64 run of the same (float32-valued) parameters: any slip in
  the import (a gate block, a transposed matrix, a lost bias, a swapped batch axis) is
  orders of magnitude larger;
* to 1e-6 with torch's float32 run, the model as it was trained (the largest difference
  seen is below 1e-7).

Malformed files and unsupported models are built here, ONNX ones with a small protobuf
writer independent of the reader under test.
"""

import importlib.util
import itertools
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from rpu.frontend import (FORMATS, ONNX_TO_TORCH_GATES, ImportedLSTM, ModelImportError,
                          from_state_dict, load_model, onnx_lstm_nodes, read_safetensors,
                          reorder_gates)
from tests.frontend.writers import (ONNX_BFLOAT16, ONNX_FLOAT, ONNX_STRING, model_pb, node_pb,
                                    pb, stack_arrays, tensor_pb, write, write_raw_safetensors,
                                    write_safetensors)
from tests.helpers import IMPORT_DATA as DATA


REFERENCE = dict(np.load(DATA / "reference.npz", allow_pickle=False))

TORCH64_ATOL = 1e-12
TORCH32_ATOL = 1e-6

#: Every committed model file (but the .pt ones) and the reference case it holds.
MODEL_FILES = {
    "l1.safetensors": "l1", "l1.npz": "l1", "l1_legacy.npz": "l1", "l1.onnx": "l1",
    "l1_nofold.onnx": "l1", "l1_opset9.onnx": "l1",
    "l2_bf.safetensors": "l2_bf", "l2_bf.npz": "l2_bf", "l2_bf.onnx": "l2_bf",
    "l2_bf_layout1.onnx": "l2_bf", "l2_bf_dynamo.onnx": "l2_bf",
    "l3.safetensors": "l3", "l3_f16.safetensors": "l3", "l3_bf16.safetensors": "l3",
    "l3_f64.safetensors": "l3", "l3.npz": "l3", "l3.onnx": "l3",
    "chain.safetensors": "chain", "chain.npz": "chain", "chain.onnx": "chain",
    "chain_dynamo.onnx": "chain",
    "nobias.safetensors": "nobias", "nobias.npz": "nobias", "nobias.onnx": "nobias",
    "wrapped.safetensors": "wrapped", "wrapped.npz": "wrapped", "wrapped.onnx": "wrapped",
    "wrapped_dynamo.onnx": "wrapped",
}
PT_FILES = {"l1.pt": "l1", "l2_bf.pt": "l2_bf", "l3.pt": "l3", "chain.pt": "chain",
            "nobias.pt": "nobias", "wrapped.pt": "wrapped"}
CASES = [str(name) for name in REFERENCE["cases"]]


def ref(case, key):
    return REFERENCE[f"{case}_{key}"]


def torch_outputs(case, precision):
    """torch's outputs of ``case``, batch-major: last layer's h ``(B, T, H)`` and, per
    layer, final h and c ``(B, H_k)``."""
    y = ref(case, f"y{precision}")
    if not bool(ref(case, "batch_first")):
        y = y.transpose(1, 0, 2)
    layers = len(ref(case, "hidden_sizes"))
    h_n = [ref(case, f"h_n{k}_{precision}") for k in range(layers)]
    c_n = [ref(case, f"c_n{k}_{precision}") for k in range(layers)]
    return y, h_n, c_n


def max_error_against_torch(model, case, precision):
    """Largest difference between the golden model on ``model`` and torch, over every
    sequence of the case's input, every step's output and every layer's final state."""
    y, h_n, c_n = torch_outputs(case, precision)
    sequences = model.sequences(ref(case, "x"))
    assert sequences.shape[0] == y.shape[0]
    error = 0.0
    for b, sequence in enumerate(sequences):
        outputs = model.float_forward(sequence)
        error = max(error, np.abs(outputs[-1].h - y[b]).max())
        for k, output in enumerate(outputs):
            error = max(error, np.abs(output.h[-1] - h_n[k][b]).max(),
                        np.abs(output.c[-1] - c_n[k][b]).max())
    return error


def assert_reproduces_torch(model, case):
    assert model.input_size == int(ref(case, "input_size"))
    assert model.hidden_sizes == tuple(int(h) for h in ref(case, "hidden_sizes"))
    assert model.num_layers == len(ref(case, "hidden_sizes"))
    assert model.batch_first == bool(ref(case, "batch_first"))
    assert max_error_against_torch(model, case, "64") < TORCH64_ATOL
    assert max_error_against_torch(model, case, "32") < TORCH32_ATOL


def reference_layers(case):
    """The case's parameters, from its .npz (a format that needs no conversion)."""
    return load_model(DATA / f"{case}.npz").layers


# ---------------------------------------------------------------------------------------
# Every committed file against torch
# ---------------------------------------------------------------------------------------

def test_every_committed_file_is_tested():
    committed = {path.name for path in DATA.iterdir()} - {"reference.npz"}
    assert committed == set(MODEL_FILES) | set(PT_FILES)
    assert set(MODEL_FILES.values()) == set(CASES)


@pytest.mark.parametrize("filename", sorted(MODEL_FILES))
def test_file_reproduces_torch(filename):
    model = load_model(DATA / filename)
    assert isinstance(model, ImportedLSTM)
    assert model.source_format == {".safetensors": "safetensors", ".npz": "npz",
                                   ".onnx": "onnx"}[Path(filename).suffix]
    for layer in model.layers:
        assert set(layer) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
        assert all(value.dtype == np.float64 for value in layer.values())
    assert_reproduces_torch(model, MODEL_FILES[filename])


@pytest.mark.parametrize("case", CASES)
def test_formats_agree_exactly(case):
    """All files of a case hold the same float32 values, whatever the format."""
    expected = reference_layers(case)
    for filename, file_case in MODEL_FILES.items():
        if file_case != case:
            continue
        model = load_model(DATA / filename)
        for layer, expected_layer in zip(model.layers, expected, strict=True):
            for kind in expected_layer:
                np.testing.assert_array_equal(layer[kind], expected_layer[kind],
                                              err_msg=f"{filename}: {kind}")


def test_bias_free_model_has_zero_biases():
    for filename in ("nobias.safetensors", "nobias.npz", "nobias.onnx"):
        model = load_model(DATA / filename)
        assert not model.has_bias
        assert not np.any(model.layers[0]["bias_ih"]) and not np.any(model.layers[0]["bias_hh"])
    assert load_model(DATA / "l1.onnx").has_bias


def test_wrong_batch_first_would_not_reproduce_torch():
    """The batch_first test has teeth: the same weights read with the other layout fail."""
    import dataclasses

    model = load_model(DATA / "l2_bf.onnx")
    swapped = dataclasses.replace(model, batch_first=False)
    x = ref("l2_bf", "x")  # (B=3, T=5, I)
    assert swapped.sequences(x).shape == (5, 3, 4)
    with pytest.raises(AssertionError):
        assert_reproduces_torch(swapped, "l2_bf")


def test_batch_first_sources():
    assert load_model(DATA / "l2_bf.safetensors").metadata["batch_first_from"] == \
        "the safetensors __metadata__"
    assert load_model(DATA / "l2_bf.npz").metadata["batch_first_from"] == \
        "the .npz entry 'batch_first'"
    assert "ONNX graph" in load_model(DATA / "l2_bf.onnx").metadata["batch_first_from"]
    legacy = load_model(DATA / "l1_legacy.npz")
    assert not legacy.batch_first
    assert "not recorded" in legacy.metadata["batch_first_from"]


def test_batch_first_argument(tmp_path):
    # A file that does not record it: the argument decides.
    model = load_model(DATA / "l1_legacy.npz", batch_first=True)
    assert model.batch_first
    assert model.metadata["batch_first_from"] == "the batch_first= argument"
    # A file that records it: agreeing is fine, contradicting is an error.
    assert load_model(DATA / "l2_bf.onnx", batch_first=True).batch_first
    with pytest.raises(ModelImportError, match="batch_first=False was asked.*batch_first=True"):
        load_model(DATA / "l2_bf.onnx", batch_first=False)
    with pytest.raises(ModelImportError, match="batch_first=True was asked"):
        load_model(DATA / "l1.safetensors", batch_first=True)


def test_prefix_detection_and_other_keys_ignored():
    for filename in ("wrapped.safetensors", "wrapped.npz"):
        model = load_model(DATA / filename)
        assert model.metadata["prefix"] == "encoder."
        assert model.hidden_sizes == (8, 8)
    names = read_safetensors(DATA / "wrapped.safetensors")[0]
    assert "head.weight" in names and "encoder.weight_ih_l0" in names


def test_safetensors_dtypes_decode_to_the_same_values():
    tensors = {}
    for suffix in ("", "_f16", "_bf16", "_f64"):
        tensors[suffix], _ = read_safetensors(DATA / f"l3{suffix}.safetensors")
    assert tensors["_f16"]["weight_ih_l0"].dtype == np.float16
    assert tensors["_bf16"]["weight_ih_l0"].dtype == np.float32  # widened from BF16
    assert tensors["_f64"]["weight_ih_l0"].dtype == np.float64
    for suffix in ("_f16", "_bf16", "_f64"):
        for name, value in tensors[""].items():
            np.testing.assert_array_equal(tensors[suffix][name].astype(np.float64),
                                          value.astype(np.float64))


def test_legacy_npz_is_the_one_layer_model():
    model = load_model(DATA / "l1_legacy.npz")
    assert model.num_layers == 1 and model.metadata["prefix"] == ""


# ---------------------------------------------------------------------------------------
# API: sequences, float_forward, to_npz, format detection
# ---------------------------------------------------------------------------------------

def test_sequences_layouts():
    model = load_model(DATA / "l1.npz")  # batch_first False, I = 3
    x = np.arange(7 * 2 * 3, dtype=float).reshape(7, 2, 3)
    sequences = model.sequences(x)
    assert sequences.shape == (2, 7, 3)
    np.testing.assert_array_equal(sequences[1], x[:, 1])
    assert model.sequences(x[:, 0]).shape == (1, 7, 3)
    with pytest.raises(ModelImportError, match="input_size = 3"):
        model.sequences(np.zeros((7, 2, 4)))
    with pytest.raises(ModelImportError, match=r"\(T, B, I\)"):
        model.sequences(np.zeros((1, 7, 2, 3)))
    batch_first = load_model(DATA / "l2_bf.npz")
    np.testing.assert_array_equal(batch_first.sequences(np.ones((3, 5, 4))), np.ones((3, 5, 4)))


def test_float_forward_chains_layers_and_takes_states():
    model = load_model(DATA / "chain.npz")
    x = ref("chain", "x")[:, 0].astype(np.float64)
    outputs = model.float_forward(x)
    assert [o.h.shape for o in outputs] == [(5, 6), (5, 3), (5, 5)]
    from lstm_ref.float_lstm import lstm_forward
    layer = model.layers[1]
    np.testing.assert_array_equal(outputs[1].h, lstm_forward(outputs[0].h, **layer).h)
    h0 = [np.full(h, 0.5) for h in model.hidden_sizes]
    c0 = [np.full(h, -0.5) for h in model.hidden_sizes]
    with_state = model.float_forward(x, h0=h0, c0=c0)
    assert not np.allclose(with_state[-1].h, outputs[-1].h)


@pytest.mark.parametrize("filename", ["chain.onnx", "l2_bf.safetensors", "nobias.npz"])
def test_to_npz_round_trip(tmp_path, filename):
    model = load_model(DATA / filename)
    model.to_npz(tmp_path / "out.npz")
    again = load_model(tmp_path / "out.npz")
    assert again.batch_first == model.batch_first
    for layer, original in zip(again.layers, model.layers, strict=True):
        for kind in original:
            np.testing.assert_array_equal(layer[kind], original[kind])
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]  # no temporary left


def test_to_npz_legacy(tmp_path):
    load_model(DATA / "l1.onnx").to_npz(tmp_path / "legacy.npz", legacy=True)
    with np.load(tmp_path / "legacy.npz") as archive:
        assert sorted(archive.files) == ["bias_hh", "bias_ih", "weight_hh", "weight_ih"]
        with np.load(DATA / "l1_legacy.npz") as expected:
            for name in archive.files:
                np.testing.assert_array_equal(archive[name], expected[name])
    with pytest.raises(ModelImportError, match="holds one layer; this model has 3"):
        load_model(DATA / "chain.npz").to_npz(tmp_path / "x.npz", legacy=True)


@pytest.mark.parametrize("filename,fmt", [("l1.safetensors", "safetensors"),
                                          ("l1.npz", "npz"), ("l1.onnx", "onnx")])
def test_format_detected_from_content(tmp_path, filename, fmt):
    target = tmp_path / "model.bin"
    shutil.copy(DATA / filename, target)
    model = load_model(target)
    assert model.source_format == fmt
    assert load_model(target, format=fmt).source_format == fmt


def test_format_errors(tmp_path):
    unknown = tmp_path / "model.weights"
    unknown.write_bytes(b"\x00\x01 nothing recognisable")
    with pytest.raises(ModelImportError, match="cannot tell the format.*pass format="):
        load_model(unknown)
    with pytest.raises(ModelImportError, match="unknown format 'keras'"):
        load_model(DATA / "l1.npz", format="keras")
    with pytest.raises(ModelImportError, match="no such file"):
        load_model(tmp_path / "missing.onnx")
    with pytest.raises(ModelImportError, match="is not a file"):
        load_model(tmp_path)
    with pytest.raises(ModelImportError, match="does not apply to ONNX"):
        load_model(DATA / "l1.onnx", prefix="lstm")
    # A format that does not match the content is refused, not misread.
    with pytest.raises(ModelImportError):
        load_model(DATA / "l1.npz", format="safetensors")
    with pytest.raises(ModelImportError):
        load_model(DATA / "l1.safetensors", format="onnx")
    assert set(FORMATS) == {"safetensors", "onnx", "npz", "pt"}


# ---------------------------------------------------------------------------------------
# ONNX gate order
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename", ["l1.onnx", "l2_bf.onnx", "chain_dynamo.onnx"])
def test_onnx_gate_order_only_the_right_permutation_reproduces_torch(filename):
    """Of the 24 ways to map ONNX's four gate blocks onto torch's, exactly
    ONNX_TO_TORCH_GATES reproduces torch; every other one is far off."""
    case = MODEL_FILES[filename]
    nodes = onnx_lstm_nodes(DATA / filename)
    batch_first = load_model(DATA / filename).batch_first
    errors = {}
    for order in itertools.permutations(range(4)):
        layers = []
        for node in nodes:
            hidden = node["R"].shape[2]
            bias = node["B"][0]
            layers.append({
                "weight_ih": reorder_gates(node["W"][0], hidden, order),
                "weight_hh": reorder_gates(node["R"][0], hidden, order),
                "bias_ih": reorder_gates(bias[:4 * hidden], hidden, order),
                "bias_hh": reorder_gates(bias[4 * hidden:], hidden, order)})
        model = ImportedLSTM(layers=layers, batch_first=batch_first)
        errors[order] = max_error_against_torch(model, case, "64")
    assert errors[ONNX_TO_TORCH_GATES] < TORCH64_ATOL
    wrong = {order: error for order, error in errors.items() if order != ONNX_TO_TORCH_GATES}
    assert min(wrong.values()) > 1e-3, wrong
    # In particular, reading ONNX's blocks as if they were torch's (no reordering) is wrong.
    assert errors[(0, 1, 2, 3)] > 1e-2


def test_onnx_weights_are_stored_in_onnx_order():
    """torch.onnx.export pre-permutes: the stored W is torch's weight_ih with the blocks
    i, f, g, o rearranged to i, o, f, c (written out here without the module's constant)."""
    node = onnx_lstm_nodes(DATA / "l1.onnx")[0]
    torch_layer = reference_layers("l1")[0]
    i, f, g, o = np.split(torch_layer["weight_ih"], 4)
    np.testing.assert_array_equal(node["W"][0], np.concatenate([i, o, f, g]))
    assert not np.array_equal(node["W"][0], torch_layer["weight_ih"])
    assert node["attributes"] == {"hidden_size": 5}


def test_reorder_gates():
    array = np.repeat(np.arange(4), 2)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(reorder_gates(array, 2, (0, 2, 3, 1))[:, 0],
                                  [0, 0, 2, 2, 3, 3, 1, 1])
    inverse = tuple(np.argsort(ONNX_TO_TORCH_GATES))
    np.testing.assert_array_equal(
        reorder_gates(reorder_gates(array, 2, ONNX_TO_TORCH_GATES), 2, inverse), array)
    np.testing.assert_array_equal(reorder_gates(array.T, 2, (3, 2, 1, 0), axis=1)[0],
                                  [3, 3, 2, 2, 1, 1, 0, 0])
    with pytest.raises(ModelImportError, match="not a permutation"):
        reorder_gates(array, 2, (0, 1, 1, 2))
    with pytest.raises(ModelImportError, match="not 4\\*hidden_size = 12"):
        reorder_gates(array, 3, ONNX_TO_TORCH_GATES)


# ---------------------------------------------------------------------------------------
# A protobuf writer for hand-made ONNX models (independent of the reader under test)
# ---------------------------------------------------------------------------------------

def torch_to_onnx_order(array):
    """Torch's gate blocks i, f, g, o to ONNX's i, o, f, c (written out independently)."""
    i, f, g, o = np.split(np.asarray(array), 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def lstm_model_pb(layers, *, layout=0, storage="raw", dtype=np.float32, data_type=None,
                  attributes=None, weights_as="initializer", transpose_input=False,
                  extra_inputs=None, replace=None):
    """An ONNX model of the stack ``layers`` (torch order), built by hand.

    Weight tensors are named ``W{k}``, ``R{k}``, ``B{k}``, stored as ``storage`` with
    ``dtype`` (or ``data_type``), as initializers, Constant nodes or graph inputs
    (``weights_as``); ``replace[name]`` substitutes an array or a ready TensorProto.
    ``attributes[k]`` adds/overrides attributes of layer k; ``extra_inputs[k]`` maps an
    LSTM input position (4..7) to ``(name, array or None)`` (None: a graph input).
    """
    replace = replace or {}
    nodes, initializers, graph_inputs = [], [], ["x"]
    previous = "x"
    if transpose_input:
        nodes.append(node_pb("Transpose", ["x"], ["x_t"], perm=[1, 0, 2]))
        previous = "x_t"

    def add_weight(name, array):
        if name in replace:
            value = replace[name]
            initializers.append(value if isinstance(value, bytes)
                                else tensor_pb(name, value, storage))
        elif weights_as == "initializer":
            initializers.append(tensor_pb(name, array, storage, data_type))
        elif weights_as == "constant":
            nodes.append(node_pb("Constant", [], [name], value=array))
        else:
            graph_inputs.append(name)

    for k, layer in enumerate(layers):
        weights = {
            "W": torch_to_onnx_order(layer["weight_ih"])[None],
            "R": torch_to_onnx_order(layer["weight_hh"])[None],
            "B": np.concatenate([torch_to_onnx_order(layer["bias_ih"]),
                                 torch_to_onnx_order(layer["bias_hh"])])[None]}
        node_inputs = [previous]
        for role in ("W", "R", "B"):
            add_weight(f"{role}{k}", weights[role].astype(dtype))
            node_inputs.append(f"{role}{k}")
        for position, (name, array) in (extra_inputs or {}).get(k, {}).items():
            node_inputs += [""] * (position + 1 - len(node_inputs))
            node_inputs[position] = name
            if array is None:
                graph_inputs.append(name)
            else:
                initializers.append(tensor_pb(name, array))
        attrs = {"hidden_size": layer["weight_hh"].shape[1]}
        if layout:
            attrs["layout"] = layout
        attrs.update((attributes or {}).get(k, {}))
        nodes.append(node_pb("LSTM", node_inputs, [f"Y{k}", f"Yh{k}", f"Yc{k}"],
                             name=f"lstm{k}", **attrs))
        initializers.append(tensor_pb(f"axis{k}", np.array([2 if layout else 1])))
        nodes.append(node_pb("Squeeze", [f"Y{k}", f"axis{k}"], [f"H{k}"]))
        previous = f"H{k}"
    return model_pb(nodes, initializers, inputs=graph_inputs, outputs=[previous])


def l1_onnx_weights():
    """l1's W, R, B in ONNX order, float32, as lstm_model_pb stores them."""
    layer = reference_layers("l1")[0]
    return (torch_to_onnx_order(layer["weight_ih"])[None].astype(np.float32),
            torch_to_onnx_order(layer["weight_hh"])[None].astype(np.float32),
            np.concatenate([torch_to_onnx_order(layer["bias_ih"]),
                            torch_to_onnx_order(layer["bias_hh"])])[None].astype(np.float32))


def onnx_file(tmp_path, layers=None, name="model.onnx", **options):
    return write(tmp_path / name, lstm_model_pb(layers or reference_layers("l1"), **options))


# ---------------------------------------------------------------------------------------
# ONNX: hand-made models that load
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["raw", "float_data", "float_data_unpacked"])
@pytest.mark.parametrize("weights_as", ["initializer", "constant"])
def test_handmade_onnx_reproduces_torch(tmp_path, storage, weights_as):
    """The hand-made ONNX (checking the test's writer too) in its storage variants."""
    path = onnx_file(tmp_path, storage=storage, weights_as=weights_as)
    assert_reproduces_torch(load_model(path), "l1")


def test_handmade_onnx_dtypes(tmp_path):
    """FLOAT16 (int32_data bit patterns), BFLOAT16 (raw) and DOUBLE (double_data)."""
    layers = reference_layers("l3")  # its values are exact in float16 and bfloat16
    for storage, dtype, data_type in (("int32_data", np.float16, None),
                                      ("raw", np.float32, ONNX_BFLOAT16),
                                      ("double_data", np.float64, None)):
        path = onnx_file(tmp_path, layers, storage=storage, dtype=dtype, data_type=data_type)
        assert_reproduces_torch(load_model(path), "l3")


def test_handmade_onnx_layout_and_transpose(tmp_path):
    layers = reference_layers("l2_bf")
    # layout=1: batch-first without any Transpose.
    assert_reproduces_torch(load_model(onnx_file(tmp_path, layers, layout=1)), "l2_bf")
    # layout=0 behind a Transpose(perm=[1, 0, 2]), as torch.onnx.export writes it.
    assert_reproduces_torch(load_model(onnx_file(tmp_path, layers, transpose_input=True)),
                            "l2_bf")
    # Both: the Transpose undoes the layout, the input is sequence-first.
    model = load_model(onnx_file(tmp_path, layers, layout=1, transpose_input=True))
    assert not model.batch_first


def test_handmade_onnx_explicit_defaults_accepted(tmp_path):
    hidden = 5
    attributes = {0: {"direction": "forward", "activations": ["Sigmoid", "Tanh", "Tanh"],
                      "input_forget": 0, "layout": 0, "hidden_size": hidden}}
    extra = {0: {4: ("seq_lens", None),  # run-time input, ignored
                 5: ("h0", np.zeros((1, 2, hidden), np.float32)),
                 6: ("c0", None),  # run-time initial state
                 7: ("P", np.zeros((1, 3 * hidden), np.float32))}}  # zero peepholes
    path = onnx_file(tmp_path, attributes=attributes, extra_inputs=extra)
    assert_reproduces_torch(load_model(path), "l1")


def test_handmade_onnx_shared_initializer(tmp_path):
    """Two layers reading the same initializers get the same arrays."""
    _, R, B = l1_onnx_weights()
    nodes = [node_pb("LSTM", ["x", "R", "R", "B"], ["y0"], name="a"),
             node_pb("Squeeze", ["y0", "axis"], ["h0"]),
             node_pb("LSTM", ["h0", "R", "R", "B"], ["y1"], name="b")]
    initializers = [tensor_pb("R", R), tensor_pb("B", B), tensor_pb("axis", np.array([1]))]
    model = load_model(write(tmp_path / "shared.onnx", model_pb(nodes, initializers)))
    assert model.hidden_sizes == (5, 5) and model.metadata["nodes"] == ["a", "b"]
    for kind in model.layers[0]:
        np.testing.assert_array_equal(model.layers[0][kind], model.layers[1][kind])


def test_handmade_onnx_external_data(tmp_path):
    W, _, _ = l1_onnx_weights()
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 16 + W.tobytes())

    def external(location):
        return pb((1, list(W.shape)), (2, ONNX_FLOAT), (8, "W0"),
                  (13, [pb((1, "location"), (2, location)), pb((1, "offset"), (2, "16")),
                        pb((1, "length"), (2, str(W.nbytes)))]), (14, 1))

    path = onnx_file(tmp_path, replace={"W0": external("weights.bin")})
    assert_reproduces_torch(load_model(path), "l1")
    path = onnx_file(tmp_path, replace={"W0": external("../weights.bin")})
    with pytest.raises(ModelImportError, match="outside the model's directory"):
        load_model(path)
    path = onnx_file(tmp_path, replace={"W0": external("missing.bin")})
    with pytest.raises(ModelImportError, match="cannot read external data 'missing.bin'"):
        load_model(path)


# ---------------------------------------------------------------------------------------
# ONNX: what is refused
# ---------------------------------------------------------------------------------------

def test_onnx_bidirectional_refused(tmp_path):
    path = onnx_file(tmp_path, attributes={0: {"direction": "bidirectional"}})
    with pytest.raises(ModelImportError, match="lstm0.*direction='bidirectional'"):
        load_model(path)
    path = onnx_file(tmp_path, attributes={0: {"direction": "reverse"}})
    with pytest.raises(ModelImportError, match="direction='reverse'"):
        load_model(path)
    # Two directions of weights, even without the attribute.
    W, _, _ = l1_onnx_weights()
    path = onnx_file(tmp_path, replace={"W0": np.concatenate([W, W])})
    with pytest.raises(ModelImportError, match="hold 2 directions"):
        load_model(path)


@pytest.mark.parametrize("attributes,message", [
    ({"activations": ["Relu", "Tanh", "Tanh"]}, "activations=.*Relu.*Sigmoid, Tanh, Tanh"),
    ({"activation_alpha": [0.5]}, "activation_alpha"),
    ({"clip": 3.0}, "clip=3.0"),
    ({"input_forget": 1}, "input_forget=1"),
    ({"hidden_size": 4}, "hidden_size=4 but R"),
    ({"layout": 2}, "invalid layout=2"),
    ({"frobnicate": 1}, "unknown attribute.*frobnicate"),
])
def test_onnx_unsupported_attributes_refused(tmp_path, attributes, message):
    with pytest.raises(ModelImportError, match=f"lstm0' \\(layer 0\\).*{message}"):
        load_model(onnx_file(tmp_path, attributes={0: attributes}))


def test_onnx_peepholes_refused(tmp_path):
    extra = {0: {7: ("P", np.full((1, 15), 0.1, np.float32))}}
    with pytest.raises(ModelImportError, match="lstm0.*peephole"):
        load_model(onnx_file(tmp_path, extra_inputs=extra))


def test_onnx_nonzero_constant_initial_state_refused(tmp_path):
    extra = {0: {5: ("h0", np.ones((1, 2, 5), np.float32))}}
    with pytest.raises(ModelImportError, match="initial_h of LSTM node 'lstm0'.*nonzero"):
        load_model(onnx_file(tmp_path, extra_inputs=extra))


def test_onnx_weights_must_be_constants(tmp_path):
    with pytest.raises(ModelImportError,
                       match="input W of LSTM node 'lstm0' is not a constant.*graph input 'W0'"):
        load_model(onnx_file(tmp_path, weights_as="input"))


def test_onnx_shapes_checked(tmp_path):
    W, R, B = l1_onnx_weights()
    # R with 3H rows: not an LSTM.
    path = onnx_file(tmp_path, replace={"R0": R[:, :15]})
    with pytest.raises(ModelImportError, match="lstm0.*R has shape \\(1, 15, 5\\).*i, o, f, c"):
        load_model(path)
    path = onnx_file(tmp_path, replace={"W0": W[:, :16]})
    with pytest.raises(ModelImportError, match="W has shape \\(1, 16, 3\\); with hidden size 5"):
        load_model(path)
    path = onnx_file(tmp_path, replace={"B0": B[:, :20]})
    with pytest.raises(ModelImportError, match="B has shape \\(1, 20\\); it needs \\(1, 40\\)"):
        load_model(path)
    # Layer 1 whose W does not take layer 0's hidden state.
    layers = reference_layers("chain")
    wrong = dict(layers[1], weight_ih=np.ones((12, 5)))
    with pytest.raises(ModelImportError,
                       match="W of LSTM node 'lstm1' \\(layer 1\\) has 5 columns.*size 6"):
        load_model(onnx_file(tmp_path, [layers[0], wrong]))


def test_onnx_nan_refused(tmp_path):
    layer = dict(reference_layers("l1")[0])
    layer["weight_hh"] = layer["weight_hh"].copy()
    layer["weight_hh"][3, 1] = np.nan
    with pytest.raises(ModelImportError, match="lstm0' \\(layer 0\\): R contains 1 NaN"):
        load_model(onnx_file(tmp_path, [layer]))


def test_onnx_graph_structure_errors(tmp_path):
    W, R, _ = l1_onnx_weights()
    initializers = [tensor_pb("W", W), tensor_pb("R", R)]
    # No LSTM, but a GRU.
    gru = model_pb([node_pb("GRU", ["x", "W", "R"], ["y"])], initializers)
    with pytest.raises(ModelImportError, match="no LSTM node.*GRU node"):
        load_model(write(tmp_path / "gru.onnx", gru))
    # Two LSTMs side by side on the same input: not a stack.
    parallel = model_pb([node_pb("LSTM", ["x", "W", "R"], ["y"], name="a"),
                         node_pb("LSTM", ["x", "W", "R"], ["z"], name="b")], initializers)
    with pytest.raises(ModelImportError, match="'a' and LSTM node 'b' both read a graph input"):
        load_model(write(tmp_path / "parallel.onnx", parallel))
    # An LSTM after a MatMul (an embedding, say).
    embedded = model_pb([node_pb("MatMul", ["x", "E"], ["e"]),
                         node_pb("LSTM", ["e", "W", "R"], ["y"], name="a")],
                        initializers + [tensor_pb("E", np.ones((3, 3), np.float32))])
    with pytest.raises(ModelImportError, match="input X of LSTM node 'a' is computed by a "
                                               "MatMul node"):
        load_model(write(tmp_path / "embedded.onnx", embedded))
    # A second layer reading the first one's Y_h rather than Y.
    square = [tensor_pb("W1", R)]
    wrong_output = model_pb([node_pb("LSTM", ["x", "W", "R"], ["y", "yh"], name="a"),
                             node_pb("LSTM", ["yh", "W1", "R"], ["z"], name="b")],
                            initializers + square)
    with pytest.raises(ModelImportError, match="computed by output 1 of LSTM node 'a'"):
        load_model(write(tmp_path / "yh.onnx", wrong_output))
    # A Squeeze that drops the batch axis instead of the direction axis.
    axis = tensor_pb("axis", np.array([2]))
    squeezed = model_pb([node_pb("LSTM", ["x", "W", "R"], ["y"], name="a"),
                         node_pb("Squeeze", ["y", "axis"], ["s"]),
                         node_pb("LSTM", ["s", "W1", "R"], ["z"], name="b")],
                        initializers + square + [axis])
    with pytest.raises(ModelImportError, match="removes an axis other than the direction"):
        load_model(write(tmp_path / "squeeze.onnx", squeezed))


def test_onnx_cycles_refused(tmp_path):
    W, R, _ = l1_onnx_weights()
    # The LSTM's input goes round a loop of Identity nodes.
    looped_input = model_pb([node_pb("Identity", ["b"], ["a"]), node_pb("Identity", ["a"], ["b"]),
                             node_pb("LSTM", ["a", "W", "R"], ["y"], name="l")],
                            [tensor_pb("W", W), tensor_pb("R", R)])
    with pytest.raises(ModelImportError, match="cycle through Identity node"):
        load_model(write(tmp_path / "loop1.onnx", looped_input))
    # W is computed by a Concat that reads its own output.
    looped_weight = model_pb([node_pb("Concat", ["W", "w2"], ["w2"], axis=0),
                              node_pb("LSTM", ["x", "w2", "R"], ["y"], name="l")],
                             [tensor_pb("W", W), tensor_pb("R", R)])
    with pytest.raises(ModelImportError, match="cycle through Concat node"):
        load_model(write(tmp_path / "loop2.onnx", looped_weight))


def test_onnx_unsupported_tensor_type(tmp_path):
    _, R, _ = l1_onnx_weights()
    strings = pb((1, list(R.shape)), (2, ONNX_STRING), (8, "R0"), (6, ["a"] * R.size))
    with pytest.raises(ModelImportError, match="tensor 'R0': unsupported ONNX tensor type STRING"):
        load_model(onnx_file(tmp_path, replace={"R0": strings}))
    short = pb((1, list(R.shape)), (2, ONNX_FLOAT), (8, "R0"), (9, R.tobytes()[:-4]))
    with pytest.raises(ModelImportError, match="tensor 'R0': raw_data has 396 bytes.*needs 400"):
        load_model(onnx_file(tmp_path, replace={"R0": short}))
    few = pb((1, list(R.shape)), (2, ONNX_FLOAT), (8, "R0"), (4, R.tobytes()[:-8]))
    with pytest.raises(ModelImportError, match="tensor 'R0': holds 98 value\\(s\\).*needs 100"):
        load_model(onnx_file(tmp_path, replace={"R0": few}))


def test_onnx_malformed_files(tmp_path):
    with pytest.raises(ModelImportError, match="not an ONNX model \\(no graph"):
        load_model(write(tmp_path / "empty.onnx", b""))
    with pytest.raises(ModelImportError, match="not an ONNX model"):
        load_model(write(tmp_path / "other.onnx", pb((1, 8), (2, "not a graph"))))
    with pytest.raises(ModelImportError, match="not a valid ONNX file.*wire type"):
        load_model(write(tmp_path / "text.onnx", b"this is plain text, not a protobuf\n"))
    data = (DATA / "l1.onnx").read_bytes()
    with pytest.raises(ModelImportError, match="truncated"):
        load_model(write(tmp_path / "cut.onnx", data[:len(data) // 2]))


def test_onnx_corruption_never_escapes_as_another_exception(tmp_path):
    """Truncations and byte flips of a real export: a ModelImportError or a model, nothing
    else (no IndexError, struct.error, UnicodeDecodeError, ...)."""
    data = (DATA / "l2_bf.onnx").read_bytes()
    rng = np.random.default_rng(5)
    variants = [data[:n] for n in range(0, len(data), 97)]
    for _ in range(150):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(data), 3):
            corrupt[position] = rng.integers(0, 256)
        variants.append(bytes(corrupt))
    refused = 0
    for variant in variants:
        path = write(tmp_path / "corrupt.onnx", variant)
        try:
            load_model(path)
        except ModelImportError:
            refused += 1
    assert refused > len(variants) // 3


# ---------------------------------------------------------------------------------------
# State dicts (.npz, .safetensors): what is refused
# ---------------------------------------------------------------------------------------

def save_both(tmp_path, arrays, name="model"):
    """The same state dict as .npz and as .safetensors."""
    np.savez(tmp_path / f"{name}.npz", **arrays)
    return [tmp_path / f"{name}.npz",
            write_safetensors(tmp_path / f"{name}.safetensors", arrays)]


def assert_refused(tmp_path, arrays, pattern, **options):
    for path in save_both(tmp_path, arrays):
        with pytest.raises(ModelImportError, match=pattern):
            load_model(path, **options)
    with pytest.raises(ModelImportError, match=pattern):
        from_state_dict(arrays, **options)


def test_state_dict_valid_stack(tmp_path):
    arrays = stack_arrays(prefix="net.rnn.")
    for path in save_both(tmp_path, arrays):
        model = load_model(path)
        assert model.hidden_sizes == (5, 4) and model.input_size == 3
        assert model.metadata["prefix"] == "net.rnn."
        np.testing.assert_array_equal(model.layers[1]["bias_hh"], arrays["net.rnn.bias_hh_l1"])


def test_state_dict_missing_layer(tmp_path):
    arrays = stack_arrays((5, 4, 4))
    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        del arrays[f"{kind}_l1"]
    arrays["weight_ih_l2"] = arrays["weight_ih_l2"][:, :5]
    assert_refused(tmp_path, arrays, "missing layer\\(s\\) l1.*found parameters of layer\\(s\\) "
                                     "l0, l2")


def test_state_dict_missing_key(tmp_path):
    arrays = stack_arrays()
    del arrays["weight_hh_l1"]
    assert_refused(tmp_path, arrays, "missing 'weight_hh_l1' \\(layer 1\\)")
    arrays = stack_arrays(prefix="lstm.")
    del arrays["lstm.bias_hh_l0"]
    assert_refused(tmp_path, arrays, "'lstm.bias_ih_l0' is present but 'lstm.bias_hh_l0' is "
                                     "missing")
    arrays = stack_arrays()
    del arrays["bias_ih_l1"], arrays["bias_hh_l1"]
    assert_refused(tmp_path, arrays, "layer 1 has no biases while other layers have")


def test_state_dict_shape_mismatch_between_layers(tmp_path):
    arrays = stack_arrays((5, 4))
    arrays["weight_ih_l1"] = np.ones((16, 6))
    assert_refused(tmp_path, arrays, "weight_ih_l1 has 6 columns, but layer 1's input is "
                                     "layer 0's hidden state of size 5")


def test_state_dict_gate_rows(tmp_path):
    arrays = stack_arrays((5,))
    arrays["weight_hh_l0"] = np.ones((15, 5))
    assert_refused(tmp_path, arrays, "weight_hh_l0 has shape \\(15, 5\\).*needs 4\\*5 = 20 "
                                     "rows.*GRU")
    arrays = stack_arrays((5,))
    arrays["weight_ih_l0"] = np.ones((16, 3))
    assert_refused(tmp_path, arrays, "weight_ih_l0 has 16 rows; layer 0 has hidden size 5")
    arrays = stack_arrays((5,))
    arrays["bias_ih_l0"] = np.ones(5)
    assert_refused(tmp_path, arrays, "bias_ih_l0 must have shape \\(4\\*hidden_size,\\) = "
                                     "\\(20,\\), got \\(5,\\)")
    arrays = stack_arrays((5,))
    arrays["weight_ih_l0"] = np.ones(20)
    assert_refused(tmp_path, arrays, "weight_ih_l0 must be a 2-D")


def test_state_dict_bidirectional_and_projection(tmp_path):
    arrays = stack_arrays((5,), prefix="lstm.")
    arrays["lstm.weight_ih_l0_reverse"] = arrays["lstm.weight_ih_l0"]
    assert_refused(tmp_path, arrays, "'lstm.weight_ih_l0_reverse'.*bidirectional")
    arrays = stack_arrays((5,))
    arrays["weight_hr_l0"] = np.ones((3, 5))
    assert_refused(tmp_path, arrays, "'weight_hr_l0'.*proj_size")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_state_dict_non_finite(tmp_path, bad):
    arrays = stack_arrays()
    arrays["bias_hh_l1"][2] = bad
    assert_refused(tmp_path, arrays, "bias_hh_l1 contains 1 NaN or Inf")


def test_state_dict_several_lstms_need_a_prefix(tmp_path):
    arrays = {**stack_arrays((5,), prefix="encoder."),
              **stack_arrays((2, 3), input_size=7, prefix="decoder.")}
    assert_refused(tmp_path, arrays, "several LSTMs.*'decoder.', 'encoder.'.*prefix=")
    for path in save_both(tmp_path, arrays):
        assert load_model(path, prefix="decoder").hidden_sizes == (2, 3)
        assert load_model(path, prefix="encoder.").hidden_sizes == (5,)
        with pytest.raises(ModelImportError, match="no LSTM parameters with prefix 'dec'"):
            load_model(path, prefix="dec")


def test_state_dict_other_problems(tmp_path):
    assert_refused(tmp_path, {"head.weight": np.ones((2, 3))},
                   "no LSTM parameters found.*keys present: head.weight")
    mixed = {**stack_arrays((5,)), "weight_ih": np.ones((20, 3)), "weight_hh": np.ones((20, 5))}
    assert_refused(tmp_path, mixed, "mix the single-layer names")
    np.savez(tmp_path / "text.npz", weight_ih=np.array(["a"] * 4), weight_hh=np.ones((4, 1)))
    with pytest.raises(ModelImportError, match="weight_ih must hold real numbers"):
        load_model(tmp_path / "text.npz")
    np.savez(tmp_path / "flag.npz", batch_first=np.array([1, 0]), **stack_arrays())
    with pytest.raises(ModelImportError, match="batch_first must be a 0-d boolean"):
        load_model(tmp_path / "flag.npz")


def test_npz_malformed(tmp_path):
    np.save(tmp_path / "single.npy", np.ones(3))
    shutil.copy(tmp_path / "single.npy", tmp_path / "single.npz")
    with pytest.raises(ModelImportError, match="single array, not an .npz"):
        load_model(tmp_path / "single.npz")
    data = (DATA / "l1.npz").read_bytes()
    with pytest.raises(ModelImportError, match="not a readable .npz"):
        load_model(write(tmp_path / "cut.npz", data[:len(data) // 2]))
    with pytest.raises(ModelImportError, match="not a readable .npz"):
        load_model(write(tmp_path / "empty.npz", b""))


# ---------------------------------------------------------------------------------------
# .safetensors: malformed files
# ---------------------------------------------------------------------------------------

def test_safetensors_metadata_batch_first(tmp_path):
    path = write_safetensors(tmp_path / "m.safetensors", stack_arrays(),
                             metadata={"batch_first": "1", "note": "x"})
    model = load_model(path)
    assert model.batch_first and model.metadata["safetensors"]["note"] == "x"
    path = write_safetensors(tmp_path / "m.safetensors", stack_arrays(),
                             metadata={"batch_first": "maybe"})
    with pytest.raises(ModelImportError, match="batch_first'\\] must be a boolean"):
        load_model(path)
    path = write_safetensors(tmp_path / "m.safetensors", stack_arrays(),
                             metadata={"batch_first": True})
    with pytest.raises(ModelImportError, match="__metadata__ must map strings to strings"):
        load_model(path)


def test_safetensors_truncated_anywhere(tmp_path):
    data = (DATA / "l2_bf.safetensors").read_bytes()
    for size in list(range(0, 16)) + list(range(16, len(data), 61)) + [len(data) - 1]:
        path = write(tmp_path / "cut.safetensors", data[:size])
        with pytest.raises(ModelImportError, match="truncated|run past the end"):
            load_model(path)


def _one_tensor_header(**changes):
    entry = {"dtype": "F32", "shape": [20, 3], "data_offsets": [0, 240]}
    entry.update(changes)
    return {"weight_ih": entry}


@pytest.mark.parametrize("header,data,message", [
    (b"not json", b"", "not UTF-8 JSON"),
    (b"[1, 2]", b"", "not a JSON object"),
    (b'{"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}, '
     b'"a": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]}}', b"\0" * 8,
     "duplicate key 'a'"),
    (_one_tensor_header(dtype="F7"), b"\0" * 240, "'weight_ih' has unknown dtype 'F7'"),
    (_one_tensor_header(shape=[20, -3]), b"\0" * 240, "'weight_ih' has an invalid shape"),
    (_one_tensor_header(data_offsets=[240, 0]), b"\0" * 240, "invalid data_offsets"),
    (_one_tensor_header(data_offsets=[0, 480]), b"\0" * 240,
     "'weight_ih': data_offsets \\[0, 480\\] run past the end of the 240-byte"),
    (_one_tensor_header(data_offsets=[0, 236]), b"\0" * 240,
     "span 236 bytes, but F32 of shape \\(20, 3\\) needs 240"),
    (_one_tensor_header(extra=1), b"\0" * 240, "must have exactly dtype, shape and data_offsets"),
    ({"weight_ih": {"dtype": "F32", "shape": [20, 3], "data_offsets": [0, 240]},
      "weight_hh": {"dtype": "F32", "shape": [20, 5], "data_offsets": [200, 600]}},
     b"\0" * 600, "tensors 'weight_ih' and 'weight_hh' overlap"),
])
def test_safetensors_malformed_header(tmp_path, header, data, message):
    path = write_raw_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(ModelImportError, match=message):
        load_model(path)


def test_safetensors_header_length_checks(tmp_path):
    with pytest.raises(ModelImportError, match="header length says 1000 bytes but only 4"):
        load_model(write(tmp_path / "a.safetensors", struct.pack("<Q", 1000) + b"{}  "))
    with pytest.raises(ModelImportError, match="shorter than the 8-byte header length"):
        load_model(write(tmp_path / "b.safetensors", b"\x01\x02"))


def test_safetensors_dtypes_refused_for_weights(tmp_path):
    arrays = stack_arrays((5,))
    arrays["weight_hh_l0"] = np.ones((20, 5), np.int32)
    path = write_safetensors(tmp_path / "int.safetensors", arrays)
    with pytest.raises(ModelImportError, match="weight_hh_l0 has dtype I32; LSTM parameters "
                                               "must be floating point"):
        load_model(path)
    header = _one_tensor_header(dtype="F8_E4M3", data_offsets=[0, 60])
    header["weight_hh"] = {"dtype": "F32", "shape": [20, 5], "data_offsets": [60, 460]}
    path = write_raw_safetensors(tmp_path / "f8.safetensors", header, b"\0" * 460)
    with pytest.raises(ModelImportError, match="weight_ih has dtype F8_E4M3"):
        load_model(path)


# ---------------------------------------------------------------------------------------
# .pt
# ---------------------------------------------------------------------------------------

def test_pt_without_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ModelImportError, match="needs PyTorch, which is not installed.*"
                                               "safetensors"):
        load_model(DATA / "l1.pt")


def _torch_or_clear_error(filename):
    """torch if it is installed; else check the documented behaviour without it: a .pt file
    is refused with a clear error (so these tests never skip)."""
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ModelImportError, match="needs PyTorch, which is not installed"):
            load_model(DATA / filename)
        return None
    import torch
    return torch


@pytest.mark.parametrize("filename", sorted(PT_FILES))
def test_pt_reproduces_torch(filename):
    if _torch_or_clear_error(filename) is None:
        return
    case = PT_FILES[filename]
    options = {"batch_first": True} if case == "wrapped" else {}  # a state dict: not recorded
    model = load_model(DATA / filename, **options)
    assert model.source_format == "pt"
    assert_reproduces_torch(model, case)
    if filename == "l2_bf.pt":  # a whole nn.LSTM: batch_first comes from the module
        assert model.metadata["batch_first_from"] == "the nn.LSTM module"


def test_pt_refusals(tmp_path):
    torch = _torch_or_clear_error("l1.pt")
    if torch is None:
        return
    torch.save(torch.nn.LSTM(3, 4, bidirectional=True), tmp_path / "bi.pt")
    with pytest.raises(ModelImportError, match="bidirectional"):
        load_model(tmp_path / "bi.pt")
    torch.save(torch.nn.LSTM(3, 4, proj_size=2), tmp_path / "proj.pt")
    with pytest.raises(ModelImportError, match="proj_size=2"):
        load_model(tmp_path / "proj.pt")
    torch.save(torch.nn.GRU(3, 4), tmp_path / "gru.pt")
    with pytest.raises(ModelImportError, match="weights_only=True.*GRU.*state_dict"):
        load_model(tmp_path / "gru.pt")
    lstm = torch.nn.LSTM(3, 4)
    torch.save({"epoch": 3, "state_dict": lstm.state_dict()}, tmp_path / "checkpoint.pt")
    assert load_model(tmp_path / "checkpoint.pt").hidden_sizes == (4,)
