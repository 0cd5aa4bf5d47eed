"""Import an LSTM from a PyTorch ``.pt``/``.pth`` file (needs torch, imported on use).

``.pt`` / ``.pth``
    ``torch.save`` of a state dict (or of a checkpoint dict with one ``state_dict`` /
    ``model_state_dict`` entry), or of a whole ``torch.nn.LSTM``. It is loaded with
    ``torch.load(weights_only=True)`` (``nn.LSTM`` allow-listed), so no arbitrary code is
    unpickled; other pickled module classes are refused with advice to save a state dict.

Memory bound: ``torch.load`` reads the whole file (the model it describes, in its stored
dtype); then, as for the other state dicts (:mod:`rpu.frontend.state_dict`), the declared
shapes are checked before :data:`~rpu.frontend.limits.COPIES` float64 copies of the LSTM's
parameters are made.
"""

from __future__ import annotations

from rpu.frontend.imported import ImportedLSTM, ModelImportError
from rpu.frontend.state_dict import layers_from_tensors


__all__ = ["load_pt"]


def load_pt(path, prefix):
    """Import the LSTM of the ``.pt`` file ``path`` (see :func:`rpu.frontend.load_model`)."""
    where = str(path)
    try:
        import torch
    except ImportError:
        raise ModelImportError(
            f"{where}: reading .pt files needs PyTorch, which is not installed; save the "
            f"state dict as .safetensors (or export the model to ONNX, or to .npz) "
            f"instead") from None
    try:
        with torch.serialization.safe_globals([torch.nn.LSTM]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for unreadable/unsafe files
        message = str(error).strip().splitlines()
        detail = next((line for line in message if "Unsupported global" in line),
                      message[0] if message else type(error).__name__)
        raise ModelImportError(
            f"{where}: cannot load as a state dict or nn.LSTM with torch.load("
            f"weights_only=True): {detail.strip()}; save model.state_dict() (or the "
            f"nn.LSTM itself) instead") from None
    batch_first, batch_first_from = False, None
    if isinstance(loaded, torch.nn.Module):
        if not isinstance(loaded, torch.nn.LSTM):
            raise ModelImportError(f"{where}: holds a {type(loaded).__name__}, not an nn.LSTM")
        if loaded.proj_size:
            raise ModelImportError(f"{where}: the nn.LSTM has proj_size={loaded.proj_size}; "
                                   f"LSTMs with projections cannot be imported")
        if loaded.bidirectional:
            raise ModelImportError(f"{where}: the nn.LSTM is bidirectional; only "
                                   f"unidirectional LSTMs can be imported")
        batch_first, batch_first_from = bool(loaded.batch_first), "the nn.LSTM module"
        state = loaded.state_dict()
    elif isinstance(loaded, dict):
        state = loaded
        if not any(torch.is_tensor(value) for value in state.values()):
            nested = [key for key in ("state_dict", "model_state_dict")
                      if isinstance(state.get(key), dict)]
            if len(nested) == 1:
                state = state[nested[0]]
    else:
        raise ModelImportError(f"{where}: holds a {type(loaded).__name__}, not a state dict "
                               f"or an nn.LSTM")
    tensors = {key: value for key, value in state.items()
               if isinstance(key, str) and torch.is_tensor(value)}

    def shape_of(name):
        if not tensors[name].is_floating_point():
            raise ModelImportError(f"{where}: {name} has dtype {tensors[name].dtype}; LSTM "
                                   f"parameters must be floating point")
        return tuple(tensors[name].shape)

    def fetch(name):
        return tensors[name].detach().cpu().to(torch.float64).numpy()

    layers, has_bias, prefix = layers_from_tensors(tensors, fetch, prefix, where,
                                                   shape_of=shape_of)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="pt",
                        source=where, has_bias=has_bias,
                        metadata={"prefix": prefix, "batch_first_from": batch_first_from})

