"""State dicts: ``torch.nn.LSTM.state_dict()`` keys to the layers of an :class:`ImportedLSTM`.

The ``.safetensors``, ``.npz`` and ``.pt`` importers all hold a state dict:

State dicts (``.safetensors``, ``.npz``, ``.pt``)
    Keys ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` as in
    ``torch.nn.LSTM.state_dict()``, optionally behind a prefix ending in ``.`` (``lstm.``,
    ``encoder.rnn.``, ... as in the state dict of a module holding the LSTM). Keys of other
    modules (a linear head, ...) are ignored. If the file holds several LSTMs (several
    prefixes), ``prefix=`` chooses one; without it the import is refused. The single-layer
    keys ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (the ``.npz`` format of
    ``python -m rpu simulate``, and ``torch.nn.LSTMCell``'s state dict) give a one-layer
    LSTM. Biases are both present or both absent in a layer (absent means
    ``bias=False``: zeros), and present in every layer or in none.

The importers give :func:`layers_from_tensors` the declared shape of every key (from the
file's headers) so that the structure and the sizes are checked before any data is read;
only the LSTM's own parameters are then read.
"""

from __future__ import annotations

import re

from rpu.frontend.imported import (PARAM_KINDS, ImportedLSTM, ModelImportError, as_parameter,
                                   check_layer_shapes, check_layers)
from rpu.frontend.limits import MAX_LAYERS


__all__ = ["from_state_dict", "layers_from_tensors"]


_SUFFIXED_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|"
                           r"weight_hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
_UNSUFFIXED_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|"
                             r"bias_hh)$")


def _shorten(text, limit=80):
    """``text``, cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _describe_prefix(prefix):
    return f"prefix {prefix!r}" if prefix else "no prefix"


def _key_name(prefix, kind, index, suffixed):
    """The state-dict key of parameter ``kind`` of layer ``index``."""
    return prefix + (f"{kind}_l{index}" if suffixed else kind)


def _group_keys(names, where):
    """Sort LSTM parameter keys by prefix: ``{prefix: {(kind, layer, reverse): key}}``.

    Single-layer keys (``weight_ih``, ...) are grouped as layer 0 with ``layer=None``.
    """
    groups = {}
    for name in names:
        match = _SUFFIXED_KEY.match(name)
        if match:
            layer = match["layer"]
            if len(layer) > 6 or int(layer) >= MAX_LAYERS:
                raise ModelImportError(f"{where}: key {_shorten(name)!r} names layer "
                                       f"{_shorten(layer)}; the RPU accepts at most "
                                       f"{MAX_LAYERS} layers")
            entry = (match["kind"], int(layer), bool(match["reverse"]))
        else:
            match = _UNSUFFIXED_KEY.match(name)
            if not match:
                continue
            entry = (match["kind"], None, False)
        groups.setdefault(match["prefix"], {})[entry] = name
    return groups


def _select_group(groups, prefix, names, where):
    if prefix is not None:
        for candidate in (prefix, prefix + "."):
            if candidate in groups:
                return candidate, groups[candidate]
        found = ", ".join(repr(p) for p in sorted(groups)) or "none"
        raise ModelImportError(f"{where}: no LSTM parameters with prefix {prefix!r} "
                               f"(LSTM prefixes found: {found})")
    if not groups:
        shown = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
        raise ModelImportError(
            f"{where}: no LSTM parameters found; expected keys weight_ih_l0, weight_hh_l0, "
            f"bias_ih_l0, bias_hh_l0, ... (optionally behind a prefix such as 'lstm.') or "
            f"weight_ih, weight_hh, bias_ih, bias_hh; keys present: {shown or 'none'}")
    if len(groups) > 1:
        found = ", ".join(repr(p) for p in sorted(groups))
        raise ModelImportError(f"{where}: several LSTMs are present (key prefixes {found}); "
                               f"pass prefix= to choose one")
    return next(iter(groups.items()))


def _layer_keys(group, prefix, where):
    """Check a group's key structure; return per layer ``{kind: key}`` (biases optional)."""
    for (kind, layer, reverse), name in sorted(group.items(), key=lambda item: item[1]):
        if reverse:
            raise ModelImportError(
                f"{where}: {name!r} belongs to the reverse direction of a bidirectional "
                f"LSTM; only unidirectional LSTMs can be imported")
        if kind == "weight_hr":
            raise ModelImportError(
                f"{where}: {name!r} is the projection of an LSTM with proj_size > 0; LSTMs "
                f"with projections cannot be imported")
    styles = {layer is None for (_, layer, _) in group}
    if len(styles) > 1:
        raise ModelImportError(
            f"{where}: keys with {_describe_prefix(prefix)} mix the single-layer names "
            f"(weight_ih, ...) and the per-layer names (weight_ih_l0, ...)")
    indices = sorted({0 if layer is None else layer for (_, layer, _) in group})
    missing = sorted(set(range(indices[-1] + 1)) - set(indices))
    if missing:
        raise ModelImportError(
            f"{where}: missing layer(s) {', '.join(f'l{k}' for k in missing)} "
            f"({_describe_prefix(prefix)}): found parameters of layer(s) "
            f"{', '.join(f'l{k}' for k in indices)}; layers must be numbered from l0 without gaps")
    suffixed = styles == {False}
    by_layer = [{} for _ in indices]
    for (kind, layer, _), name in group.items():
        by_layer[0 if layer is None else layer][kind] = name
    for index, keys in enumerate(by_layer):
        for kind in ("weight_ih", "weight_hh"):
            if kind not in keys:
                raise ModelImportError(f"{where}: missing "
                                       f"{_key_name(prefix, kind, index, suffixed)!r} "
                                       f"(layer {index})")
        present = [kind for kind in ("bias_ih", "bias_hh") if kind in keys]
        if len(present) == 1:
            absent = ({"bias_ih", "bias_hh"} - set(present)).pop()
            raise ModelImportError(f"{where}: {keys[present[0]]!r} is present but "
                                   f"{_key_name(prefix, absent, index, suffixed)!r} is "
                                   f"missing (layer {index})")
    with_bias = ["bias_ih" in keys for keys in by_layer]
    if any(with_bias) and not all(with_bias):
        layer = with_bias.index(False)
        raise ModelImportError(f"{where}: layer {layer} has no biases while other layers have; "
                               f"missing bias_ih_l{layer} and bias_hh_l{layer}")
    return by_layer


def layers_from_tensors(names, fetch, prefix, where, shape_of=None):
    """Build the layers of the LSTM found among ``names``.

    ``fetch(key)`` gives an array; ``shape_of(key)``, if given, the shape a header declares
    for it, checked (:func:`~rpu.frontend.imported.check_layer_shapes`) before any
    ``fetch``. Returns ``(layers, has_bias, prefix)``.
    """
    names = list(names)
    groups = _group_keys(names, where)
    prefix, group = _select_group(groups, prefix, names, where)
    keys = _layer_keys(group, prefix, where)
    suffixed = next(iter(group))[1] is not None
    names_by_layer = [{kind: layer_keys.get(kind, _key_name(prefix, kind, index, suffixed))
                       for kind in PARAM_KINDS} for index, layer_keys in enumerate(keys)]
    if shape_of is not None:
        check_layer_shapes([{kind: tuple(shape_of(key)) for kind, key in layer_keys.items()}
                            for layer_keys in keys], names_by_layer, where)
    layers = []
    for layer_keys in keys:
        layers.append({kind: as_parameter(key, fetch(key), where)
                       for kind, key in layer_keys.items()})
    has_bias = "bias_ih" in keys[0]
    check_layers(layers, names_by_layer, where)
    return layers, has_bias, prefix


def from_state_dict(tensors, *, prefix=None, batch_first=False, source_format="npz",
                    source=None, metadata=None):
    """Build an :class:`ImportedLSTM` from a mapping of key to array (a state dict).

    See the module documentation for the keys. ``tensors`` values are anything
    :func:`numpy.asarray` takes.
    """
    where = source or "state dict"
    layers, has_bias, prefix = layers_from_tensors(tensors.keys(), tensors.__getitem__,
                                                   prefix, where)
    metadata = dict(metadata or {})
    metadata["prefix"] = prefix
    return ImportedLSTM(layers=layers, batch_first=bool(batch_first),
                        source_format=source_format, source=source, has_bias=has_bias,
                        metadata=metadata)

