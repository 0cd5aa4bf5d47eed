"""The entry point: :func:`load_model` reads a model file of any of the :data:`FORMATS`.

The format comes from the file's suffix or, failing that, its first bytes; each format has
its importer (:mod:`~rpu.frontend.safetensors`, :mod:`~rpu.frontend.onnx`,
:mod:`~rpu.frontend.npz`, :mod:`~rpu.frontend.pt`), each with its stated memory bound
(:mod:`rpu.frontend.limits`).

``batch_first``
    It only says how a batched 3-D input is laid out (``(B, T, I)`` when True, ``(T, B, I)``
    otherwise); :meth:`ImportedLSTM.sequences` uses it to cut such an input into the
    ``(T, I)`` sequences the RPU runs. It comes from the module (``.pt`` of an ``nn.LSTM``),
    from ONNX (the ``layout`` attribute of the first LSTM node, toggled by a
    ``Transpose(perm=[1, 0, 2])`` between the graph input and that node, which is how
    :func:`torch.onnx.export` renders ``batch_first=True``; Unsqueeze/Squeeze on that path
    are followed too), or from a ``batch_first`` entry
    (``.npz``: a 0-d array; ``.safetensors``: ``__metadata__["batch_first"]``,
    ``"true"``/``"false"``/``"1"``/``"0"``). A plain state dict does not record it: then
    ``load_model(..., batch_first=True)`` gives it, and otherwise it is False, torch's
    default. ``metadata["batch_first_from"]`` says where the value came from.

Every problem raises :class:`ModelImportError` (a ValueError) whose message names the file
and the key, layer or node concerned. Nothing is ever silently permuted, transposed or
padded.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

from rpu.frontend.imported import ModelImportError
from rpu.frontend.npz import load_npz
from rpu.frontend.onnx import load_onnx
from rpu.frontend.pt import load_pt
from rpu.frontend.safetensors import load_safetensors


__all__ = ["load_model", "FORMATS"]

#: The formats :func:`load_model` reads (its ``format=`` values).
FORMATS = ("safetensors", "onnx", "npz", "pt")

#: File name suffixes and the format each one means.
_SUFFIXES = {".safetensors": "safetensors", ".onnx": "onnx", ".npz": "npz", ".pt": "pt",
             ".pth": "pt"}


def load_model(path, *, format=None, prefix=None, batch_first=None):
    """Import an LSTM from a model file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : str, optional
        One of :data:`FORMATS`; by default taken from the suffix (``.safetensors``,
        ``.onnx``, ``.npz``, ``.pt``/``.pth``) or, failing that, from the file's content.
    prefix : str, optional
        For state dicts holding several LSTMs, the key prefix of the one to import
        (``"encoder"`` or ``"encoder."``).
    batch_first : bool, optional
        The layout of batched inputs, for files that do not record it (a state dict has no
        ``batch_first``); contradicting a file that records it is an error. The source of
        the value is ``metadata["batch_first_from"]``.

    Returns
    -------
    ImportedLSTM

    Raises
    ------
    ModelImportError
        For any problem: missing or unreadable file, malformed container, no LSTM or
        several, missing layers, shapes, gate counts, bidirectional or projected LSTMs,
        NaN/Inf, unsupported ONNX features. The message names the key, layer or node.
    """
    path = Path(path)
    if not path.exists():
        raise ModelImportError(f"no such file: {str(path)!r}")
    if not path.is_file():
        raise ModelImportError(f"{str(path)!r} is not a file")
    if format is None:
        format = _SUFFIXES.get(path.suffix.lower()) or _sniff_format(path)
    elif format not in FORMATS:
        raise ModelImportError(f"unknown format {format!r}; expected one of "
                               f"{', '.join(FORMATS)}")
    if prefix is not None and format == "onnx":
        raise ModelImportError("prefix= selects among the LSTMs of a state dict; it does not "
                               "apply to ONNX models")
    loader = {"safetensors": load_safetensors, "onnx": load_onnx, "npz": load_npz,
              "pt": load_pt}[format]
    model = loader(path, prefix)
    recorded = model.metadata.get("batch_first_from")
    if batch_first is not None and recorded is not None:
        if bool(batch_first) != model.batch_first:
            raise ModelImportError(f"{path}: batch_first={bool(batch_first)} was asked, but the "
                                   f"file says batch_first={model.batch_first} ({recorded})")
    elif batch_first is not None:
        model = dataclasses.replace(model, batch_first=bool(batch_first), metadata={
            **model.metadata, "batch_first_from": "the batch_first= argument"})
    elif recorded is None:
        model.metadata["batch_first_from"] = "not recorded: torch's default, False"
    return model


def _sniff_format(path):
    """Guess a file's format from its first bytes (used when the suffix says nothing)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError as error:
        raise ModelImportError(f"{str(path)!r} cannot be read ({error})") from None
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
            names = []
        if any(name.endswith("data.pkl") for name in names):
            return "pt"
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
    if head[:1] == b"\x80":  # a pickle: torch.save's legacy, non-zip format
        return "pt"
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version), a varint
        return "onnx"
    raise ModelImportError(f"cannot tell the format of {str(path)!r} from its name or content; "
                           f"pass format= (one of {', '.join(FORMATS)})")

