"""Options shared by the commands: the configuration options, read from :class:`RPUConfig`'s
fields, and the up-front checks of output paths and the clock.

Every check here runs before any work (elaboration, calibration, simulation, synthesis), so a
bad option costs nothing and leaves nothing behind; it raises :class:`InputError` (exit 2)
with a message that names the option.
"""

import errno
import os
from dataclasses import fields
from pathlib import Path

from rpu import flow
from rpu.config import RPUConfig, ConfigError
from rpu.files import check_out_dir
from rpu.frontend.arrays import InputError


__all__ = ["InputError", "CONFIG_HELP", "add_config_options", "config_from",
           "check_output_dir", "check_output_file", "check_clock_mhz", "option_name"]

#: Help text of the option of every :class:`RPUConfig` field (``--input-size`` ...).
CONFIG_HELP = {
    "input_size": "input size I (for simulate: capacity, default the LSTM's own)",
    "hidden_size": "hidden size H (for simulate: capacity, default the LSTM's own)",
    "num_layers": "stacked LSTM layers the RPU holds at once",
    "pim_arrays": "PIM arrays",
    "lanes_per_array": "lanes (weight memories) per PIM array",
    "weights_per_word": "weights per lane memory word: MACs per lane and per read",
    "batch": "sequences run at once, each weight read feeding one MAC per sequence",
    "activation_units": "sigmoid/tanh units (must divide mac_lanes/4)",
    "elementwise_units": "element-wise units (must divide mac_lanes/4)",
    "data_width": "bits of x, h, c",
    "data_frac_bits": "fractional bits of x, h, c",
    "weight_width": "bits of weights and biases",
    "weight_frac_bits": "fractional bits of weights and biases",
    "cell_frac_bits": "fractional bits of the cell state (<= data frac bits)",
    "activation_segments": "segments of the sigmoid/tanh tables (power of two)",
    "row_scales": "1: a scale (shift) per weight row, 0: none",
    "delta": "1: build the delta (temporal sparsity) datapath, 0: dense only",
}
#: What the fields whose default is None follow (:class:`RPUConfig` derives them).
FOLLOWS = {"data_frac_bits": "the data width - 4", "weight_frac_bits": "the weight width - 4",
           "cell_frac_bits": "the data frac bits"}
#: The capacity fields: required by generate and synth, the LSTM's own size otherwise.
CAPACITY = ("input_size", "hidden_size")


def option_name(field):
    """``"lanes_per_array"`` -> ``"--lanes-per-array"``."""
    return "--" + field.replace("_", "-")


def add_config_options(parser, *, sizes_required):
    """Add an option per :class:`RPUConfig` field to ``parser``: the capacity (required
    when ``sizes_required``), then the resources and formats (defaults: RPUConfig's)."""
    capacity = parser.add_argument_group("LSTM capacity")
    resources = parser.add_argument_group("resources and formats")
    for field in fields(RPUConfig):
        # A field without a help text still gets its option (tests/cli checks the table).
        help_text = CONFIG_HELP.get(field.name, field.name.replace("_", " "))
        if field.name in CAPACITY:
            capacity.add_argument(option_name(field.name), type=int, required=sizes_required,
                                  help=help_text)
            continue
        # A default of None follows other fields (the help text says which); a flag's
        # default shows as 0 or 1, as it is given.
        default = field.default
        shown = int(default) if isinstance(default, bool) else default
        if default is None:
            help_text += f" (default: {FOLLOWS.get(field.name, 'from the other options')})"
        else:
            help_text += f" (default {shown})"
        # A flag given without a value means 1 (``--delta`` is ``--delta 1``).
        flag = {"metavar": "0|1", "nargs": "?", "const": 1} if isinstance(default, bool) \
            else {}
        resources.add_argument(option_name(field.name), type=int, default=default,
                               help=help_text, **flag)


def config_from(args, *, input_size=None, hidden_size=None):
    """The :class:`RPUConfig` of the parsed options; the capacity defaults to
    ``input_size`` and ``hidden_size`` when the options leave it out. A ConfigError names the
    command-line option rather than the Python parameter."""
    values = {field.name: getattr(args, field.name) for field in fields(RPUConfig)}
    for name, default in (("input_size", input_size), ("hidden_size", hidden_size)):
        if values[name] is None:
            values[name] = default
    try:
        return RPUConfig(**values)
    except ConfigError as error:
        message = str(error)
        for name in sorted(values, key=len, reverse=True):
            message = message.replace(name, option_name(name))
        raise ConfigError(message) from None


# Output paths -----------------------------------------------------------------------------

def _check_name_lengths(path):
    """Every part of ``path`` must fit a file name (the ancestors' checks do not see it)."""
    existing = Path(os.path.abspath(path))
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    limit = os.pathconf(existing, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))


def _checked(check, path, option):
    """Run ``check(path)`` on a non-empty path; what it (or the operating system) finds
    wrong becomes an InputError naming ``option``."""
    if path is None or str(path).strip() == "":
        raise InputError(f"{option}: give a path, not an empty string")
    if "\0" in str(path):
        raise InputError(f"{option}: {str(path)!r} contains a NUL character")
    try:
        path = Path(path)
        _check_name_lengths(path)
        return check(path)
    except InputError:
        raise
    except OSError as error:
        raise InputError(f"{option}: cannot write {str(path)!r}: "
                         f"{error.strerror or error}") from None
    except ValueError as error:
        raise InputError(f"{option}: {error}") from None


def check_output_dir(path, option="-o/--output"):
    """Check an output directory (created if missing) before any work; return it as a
    Path. Refuses an empty path, a file, a folder under a file and a folder that cannot
    be written or created (:func:`rpu.files.check_out_dir`)."""
    return _checked(check_out_dir, path, option)


def check_output_file(path, option):
    """Check an output file before any work; return it as a Path. Its directory must
    exist and be writable; the path must not be a directory."""
    def check(path):
        if path.is_dir():
            raise InputError(f"{option}: {str(path)!r} is a directory")
        parent = Path(os.path.abspath(path)).parent
        if not parent.is_dir():
            if not parent.exists() and parent.parent.is_dir():
                raise InputError(f"{option}: directory {str(parent)!r} does not exist")
            check_out_dir(parent)           # names the file in the way, if any
            raise InputError(f"{option}: directory {str(parent)!r} does not exist")
        check_out_dir(parent)
        return path
    return _checked(check, path, option)


def check_clock_mhz(value, option="--clock-mhz"):
    """A finite, positive clock frequency in MHz (:func:`rpu.flow.check_clock_mhz`)."""
    try:
        return flow.check_clock_mhz(value, option)
    except ValueError as error:
        raise InputError(str(error)) from None
