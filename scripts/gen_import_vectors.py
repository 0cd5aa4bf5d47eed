"""Generate ``tests/data/import/``: small trained-model files and torch's outputs on them.

``tests/frontend/test_model_import.py`` imports these files with :mod:`rpu.frontend` (numpy
only) and checks that the float64 golden model reproduces what torch computed, so the
import of every format is checked against the framework that wrote it, without torch being
needed by the tests.

How to run
----------
From the repository root, in an environment with torch, onnx and safetensors (made with
torch 2.13.0 CPU, onnx 1.23.2, safetensors 0.8.0, onnxscript 0.7.2 with onnx-ir 1.1.0)::

    /tmp/venv-torch/bin/pip install onnx safetensors onnxscript
    /tmp/venv-torch/bin/python scripts/gen_import_vectors.py

It rewrites ``tests/data/import/``, byte for byte the same on every run: the weights and
inputs are seeded, and torch runs single-threaded with deterministic algorithms. Without
onnxscript the ``*_dynamo.onnx`` files are kept as they are (and still checked).

The models (``CASES``)
----------------------
``l1``
    ``nn.LSTM(3, 5)``, weights x3 so that gates saturate (a swapped gate shows), input
    ``(T=7, B=2, I=3)``.
``l2_bf``
    ``nn.LSTM(4, 6, num_layers=2, batch_first=True)``, input ``(B=3, T=5, I=4)``.
``l3``
    ``nn.LSTM(5, 4, num_layers=3)``, input ``(T=6, B=1, I=5)``; its parameters are rounded
    to bfloat16 values (which float16 also holds exactly), so the same reference serves
    the F16, BF16, F32 and F64 safetensors files.
``chain``
    Three ``nn.LSTM`` of different sizes in sequence (4 -> 6 -> 3 -> 5): a stack with
    different hidden sizes per layer. The state-dict files hold it under the keys of one
    stacked LSTM (``weight_ih_l0``, ``..._l1``, ``..._l2``); the ONNX file is the export of
    the three-module chain (three LSTM nodes).
``nobias``
    ``nn.LSTM(2, 3, bias=False)``.
``wrapped``
    A module with ``encoder = nn.LSTM(6, 8, num_layers=2, batch_first=True)`` and
    ``head = nn.Linear(8, 2)``: its state dict has the prefix ``encoder.`` and other keys;
    its ONNX export has a head after the LSTMs. The reference is the encoder's output.

Files per case ``{name}``: ``{name}.safetensors`` (``safetensors.torch.save_file``, with
``__metadata__["batch_first"]``), ``{name}.npz`` (torch-style keys plus ``batch_first``),
``{name}.pt`` (``torch.save`` of the state dict; for ``l2_bf`` of the whole ``nn.LSTM``),
``{name}.onnx`` (``torch.onnx.export(dynamo=False)``). Extra files:

* ``l1_legacy.npz``: the one-layer format of ``python -m rpu simulate`` (``weight_ih``, ...);
* ``l1_nofold.onnx``: exported with ``do_constant_folding=False``: the weights are the torch
  parameters, sliced per gate and re-concatenated in ONNX order by Slice/Concat nodes;
* ``l1_opset9.onnx``: opset 9 (Squeeze/Unsqueeze with ``axes`` attributes) with
  ``keep_initializers_as_inputs=True``;
* ``l2_bf_layout1.onnx``: built here with ``onnx.helper`` (torch never writes it): the
  ``l2_bf`` weights in two LSTM nodes with ``layout=1`` (batch-first without Transpose),
  tensors in ``float_data`` rather than ``raw_data``;
* ``l3_f16.safetensors``, ``l3_bf16.safetensors``, ``l3_f64.safetensors``: other dtypes;
* ``l2_bf_dynamo.onnx``, ``chain_dynamo.onnx``, ``wrapped_dynamo.onnx``: exported with
  torch's default exporter (``dynamo=True``).

``reference.npz`` holds, per case: ``{name}_x`` (the input, float32, in the model's own
layout), ``{name}_batch_first``, ``{name}_input_size``, ``{name}_hidden_sizes``, torch's
float32 outputs ``{name}_y32`` (last layer, every step, model's layout) and, per layer
``k``, ``{name}_h_n{k}_32`` and ``{name}_c_n{k}_32`` ``(B, H_k)``, and the same from the
model converted to float64 (``_y64``, ``_h_n{k}_64``, ``_c_n{k}_64``). Torch versions are
stored too.

What torch.onnx.export produces (torch 2.13)
--------------------------------------------
Both exporters write one ONNX ``LSTM`` node per layer (opset 20), never a ``layout=1``
node, and both store ``W`` ``(1, 4H, I)``, ``R`` ``(1, 4H, H)`` and ``B`` ``(1, 8H)``
already permuted to ONNX's gate order i, o, f, c.

* The TorchScript exporter (``dynamo=False``; deprecated, but it needs nothing beyond torch
  and onnx) gives the node only ``hidden_size``. With constant folding (the default) the
  weights are initializers; without it (``l1_nofold.onnx``) they are Slice and Concat
  nodes over the original torch parameters, followed by an Unsqueeze. ``batch_first=True``
  becomes a ``Transpose(perm=[1, 0, 2])`` before the first node (and after the last);
  between layers a ``Squeeze(axes=[1])`` drops the direction axis of ``Y``;
  ``initial_h``/``initial_c`` are zeros ``Expand``-ed to the batch size read from the
  input's Shape.
* The default exporter (``dynamo=True``, needs onnxscript) also writes ``direction``,
  ``input_forget`` and ``layout`` explicitly; between layers ``Y`` goes through
  ``Transpose(perm=[0, 2, 1, 3])`` and a ``Reshape`` to a static shape; the initial states
  are zero initializers of the export's batch size.

The script checks every ONNX file with ``onnx.checker`` and runs it with
``onnx.reference.ReferenceEvaluator``: its output must match torch's before anything is
written.
"""

import copy
import pathlib
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch

import onnx
import onnx.checker
import onnx.helper
import onnx.numpy_helper
import onnx.reference
import safetensors.torch

try:
    import onnxscript  # noqa: F401  (needed by torch's default, dynamo-based ONNX exporter)
    HAVE_ONNXSCRIPT = True
except ImportError:
    HAVE_ONNXSCRIPT = False


OUTPUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "import"

# Agreement of the ONNX reference evaluator (float32) with torch (float32).
ONNX_AGREEMENT_ATOL = 1e-5


class Chain(torch.nn.Module):
    """LSTMs of different sizes in sequence: a stack torch's nn.LSTM cannot express."""

    def __init__(self, input_size, hidden_sizes):
        super().__init__()
        sizes = [input_size] + list(hidden_sizes)
        self.layers = torch.nn.ModuleList(torch.nn.LSTM(sizes[k], sizes[k + 1])
                                          for k in range(len(hidden_sizes)))

    def forward(self, x):
        states = []
        for lstm in self.layers:
            x, state = lstm(x)
            states.append(state)
        return x, states


class Wrapped(torch.nn.Module):
    """An encoder LSTM followed by a linear head, as in a small classifier."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.LSTM(6, 8, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        y, state = self.encoder(x)
        return self.head(y[:, -1]), y, state


def build(name):
    """Return ``(module, lstms, batch_first, x)`` for case ``name``.

    ``lstms`` are the nn.LSTM modules forming the stack, in order.
    """
    torch.manual_seed(sum(map(ord, name)))
    if name == "l1":
        module = torch.nn.LSTM(3, 5)
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.mul_(3.0)
        return module, [module], False, torch.randn(7, 2, 3)
    if name == "l2_bf":
        module = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True)
        return module, [module], True, torch.randn(3, 5, 4)
    if name == "l3":
        module = torch.nn.LSTM(5, 4, num_layers=3)
        with torch.no_grad():
            for parameter in module.parameters():
                rounded = parameter.to(torch.bfloat16).to(torch.float32)
                rounded[rounded.abs() < 2.0 ** -14] = 0.0  # keep float16 exact (no subnormals)
                parameter.copy_(rounded)
        return module, [module], False, torch.randn(6, 1, 5)
    if name == "chain":
        module = Chain(4, [6, 3, 5])
        return module, list(module.layers), False, torch.randn(5, 2, 4)
    if name == "nobias":
        module = torch.nn.LSTM(2, 3, bias=False)
        return module, [module], False, torch.randn(4, 1, 2)
    if name == "wrapped":
        module = Wrapped()
        return module, [module.encoder], True, torch.randn(2, 5, 6)
    raise KeyError(name)


CASES = ("l1", "l2_bf", "l3", "chain", "nobias", "wrapped")
#: Cases also exported with the dynamo-based exporter, as ``{name}_dynamo.onnx``.
DYNAMO_CASES = ("l2_bf", "chain", "wrapped")


def stacked_state_dict(lstms):
    """The parameters of ``lstms`` under the keys of one stacked nn.LSTM (l0, l1, ...)."""
    state, index = {}, 0
    for lstm in lstms:
        for layer in range(lstm.num_layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                key = f"{kind}_l{layer}"
                if hasattr(lstm, key):
                    state[f"{kind}_l{index}"] = getattr(lstm, key).detach().clone()
            index += 1
    return state


def run_stack(lstms, x):
    """Run the stack; return the last layer's output and every layer's final (h, c)."""
    h_n, c_n = [], []
    with torch.no_grad():
        for lstm in lstms:
            x, (h, c) = lstm(x)
            h_n.extend(h)
            c_n.extend(c)
    return x, h_n, c_n


def reference(lstms, x, batch_first):
    arrays = {"x": x.numpy(), "batch_first": np.array(batch_first)}
    sizes = [(layer_lstm.input_size, layer_lstm.hidden_size) for layer_lstm in lstms
             for _ in range(layer_lstm.num_layers)]
    arrays["input_size"] = np.array(sizes[0][0])
    arrays["hidden_sizes"] = np.array([h for _, h in sizes])
    y, h_n, c_n = run_stack(lstms, x)
    arrays["y32"] = y.numpy()
    for k, (h, c) in enumerate(zip(h_n, c_n)):
        arrays[f"h_n{k}_32"], arrays[f"c_n{k}_32"] = h.numpy(), c.numpy()
    doubles = [copy.deepcopy(lstm).double() for lstm in lstms]
    y, h_n, c_n = run_stack(doubles, x.double())
    arrays["y64"] = y.numpy()
    for k, (h, c) in enumerate(zip(h_n, c_n)):
        arrays[f"h_n{k}_64"], arrays[f"c_n{k}_64"] = h.numpy(), c.numpy()
    return arrays


def export_onnx(module, x, path, *, dynamo=False, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(module, (x,), str(path), dynamo=True, external_data=False,
                              input_names=["x"], **options)
        else:
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"],
                              **options)


def check_onnx(path, x, expected_y):
    """onnx.checker and onnx's reference evaluator: the file computes torch's output."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    session = onnx.reference.ReferenceEvaluator(model)
    outputs = session.run(None, {model.graph.input[0].name: x})
    # The LSTM's output is the output whose shape is the torch output's.
    matches = [o for o in outputs if o.shape == expected_y.shape]
    if not matches:
        raise RuntimeError(f"{path.name}: no output of shape {expected_y.shape}")
    error = min(np.abs(o - expected_y).max() for o in matches)
    if error > ONNX_AGREEMENT_ATOL:
        raise RuntimeError(f"{path.name}: ONNX reference run differs from torch by {error}")
    return error


def layout1_model(lstm, path):
    """The two-layer batch-first LSTM as two ONNX LSTM nodes with layout=1, float_data."""
    nodes, initializers = [], []
    previous = "x"
    gates = [0, 3, 1, 2]  # ONNX block k (i, o, f, c) is torch block gates[k] (i, f, g, o)
    for layer in range(lstm.num_layers):
        hidden = lstm.hidden_size

        def onnx_order(tensor):
            blocks = tensor.detach().numpy().reshape(4, hidden, -1)
            return blocks[gates].reshape(4 * hidden, -1)

        w = onnx_order(getattr(lstm, f"weight_ih_l{layer}"))[None]
        r = onnx_order(getattr(lstm, f"weight_hh_l{layer}"))[None]
        b = np.concatenate([onnx_order(getattr(lstm, f"bias_ih_l{layer}"))[:, 0],
                            onnx_order(getattr(lstm, f"bias_hh_l{layer}"))[:, 0]])[None]
        for role, value in (("W", w), ("R", r), ("B", b)):
            initializers.append(onnx.helper.make_tensor(
                f"{role}{layer}", onnx.TensorProto.FLOAT, value.shape,
                value.astype(np.float32).reshape(-1).tolist(), raw=False))
        nodes.append(onnx.helper.make_node(
            "LSTM", [previous, f"W{layer}", f"R{layer}", f"B{layer}"],
            [f"Y{layer}", f"Y_h{layer}", f"Y_c{layer}"], name=f"lstm{layer}",
            hidden_size=hidden, layout=1))
        # Y is (B, T, 1, H) with layout=1; the next layer needs (B, T, H).
        nodes.append(onnx.helper.make_node(
            "Squeeze", [f"Y{layer}", "axis2"], [f"X{layer + 1}"], name=f"squeeze{layer}"))
        previous = f"X{layer + 1}"
    initializers.append(onnx.numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"))
    graph = onnx.helper.make_graph(
        nodes, "lstm_layout1",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["B", "T", 4])],
        [onnx.helper.make_tensor_value_info(previous, onnx.TensorProto.FLOAT,
                                            ["B", "T", lstm.hidden_size])],
        initializers)
    model = onnx.helper.make_model(graph, producer_name="gen_import_vectors",
                                   opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory() as temporary:
        out = pathlib.Path(temporary)
        references = {"torch_version": np.array(torch.__version__),
                      "onnx_version": np.array(onnx.__version__),
                      "cases": np.array(CASES)}
        for name in CASES:
            module, lstms, batch_first, x = build(name)
            module.eval()
            arrays = reference(lstms, x, batch_first)
            for key, value in arrays.items():
                references[f"{name}_{key}"] = value

            if name == "wrapped":
                state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                state = stacked_state_dict(lstms)
            metadata = {"batch_first": "true" if batch_first else "false"}
            safetensors.torch.save_file(state, str(out / f"{name}.safetensors"), metadata)
            np.savez(out / f"{name}.npz", batch_first=np.array(batch_first),
                     **{k: v.numpy() for k, v in state.items()})
            if name == "l2_bf":
                torch.save(module, out / f"{name}.pt")
            else:
                torch.save(state, out / f"{name}.pt")

            export_onnx(module, x, out / f"{name}.onnx")
            error = check_onnx(out / f"{name}.onnx", x.numpy(), arrays["y32"])
            print(f"{name}: I={arrays['input_size']} H={arrays['hidden_sizes'].tolist()} "
                  f"batch_first={batch_first} x{tuple(x.shape)}; ONNX vs torch {error:.2g}")

            dynamo_file = f"{name}_dynamo.onnx"
            if name in DYNAMO_CASES and HAVE_ONNXSCRIPT:
                export_onnx(module, x, out / dynamo_file, dynamo=True)
                check_onnx(out / dynamo_file, x.numpy(), arrays["y32"])
            elif name in DYNAMO_CASES and (OUTPUT_DIR / dynamo_file).exists():
                print(f"  onnxscript is not installed: keeping the existing {dynamo_file}")
                shutil.copy(OUTPUT_DIR / dynamo_file, out / dynamo_file)
                check_onnx(out / dynamo_file, x.numpy(), arrays["y32"])
            elif name in DYNAMO_CASES:
                raise RuntimeError(f"{dynamo_file} needs onnxscript (pip install onnxscript)")
            if name == "l1":
                np.savez(out / "l1_legacy.npz", **{k[:-3]: v.numpy() for k, v in state.items()})
                export_onnx(module, x, out / "l1_nofold.onnx", do_constant_folding=False)
                check_onnx(out / "l1_nofold.onnx", x.numpy(), arrays["y32"])
                export_onnx(module, x, out / "l1_opset9.onnx", opset_version=9,
                            keep_initializers_as_inputs=True)
                check_onnx(out / "l1_opset9.onnx", x.numpy(), arrays["y32"])
            if name == "l2_bf":
                layout1_model(module, out / "l2_bf_layout1.onnx")
                check_onnx(out / "l2_bf_layout1.onnx", x.numpy(), arrays["y32"])
            if name == "l3":
                for dtype, suffix in ((torch.float16, "f16"), (torch.bfloat16, "bf16"),
                                      (torch.float64, "f64")):
                    converted = {k: v.to(dtype) for k, v in state.items()}
                    if not all(torch.equal(v.to(torch.float32), state[k])
                               for k, v in converted.items()):
                        raise RuntimeError(f"l3 parameters are not exact in {dtype}")
                    safetensors.torch.save_file(converted, str(out / f"l3_{suffix}.safetensors"),
                                                metadata)

        np.savez_compressed(out / "reference.npz", **references)
        if OUTPUT_DIR.exists():
            shutil.rmtree(OUTPUT_DIR)
        shutil.copytree(out, OUTPUT_DIR)
    for path in OUTPUT_DIR.iterdir():
        path.chmod(0o644)  # some writers create their files private
    total = sum(p.stat().st_size for p in OUTPUT_DIR.iterdir())
    print(f"wrote {len(list(OUTPUT_DIR.iterdir()))} files, {total} bytes, to {OUTPUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
