"""Configuration fuzzing (issue 4, item 7).

Hundreds of random raw parameter dicts, drawn from wide ranges that include invalid values
(zero, negative, huge, non-powers of two, units that do not divide ``mac_lanes / 4``,
fractional bits >= width, floats, strings, bools, None, numpy scalars, containers, unknown
keys), each with a random LSTM shape that may or may not fit. Every case ends in exactly one
of these outcomes:

* ``rejected-config``: ``RPUConfig`` raises :class:`~rpu.config.ConfigError` whose message
  names the offending parameter (or one tied to it by a constraint) and states what is allowed;
* ``rejected-shape``: the configuration is valid, but ``plan_schedule`` rejects the LSTM shape
  with a ConfigError/ValueError/TypeError naming ``input_size``, ``hidden_size``,
  ``num_layers`` or ``first_layer``;
* ``simulated``: the RPU is elaborated and simulated for 1 to 3 steps, and its outputs equal
  the fixed-point golden model bit for bit, in exactly ``schedule.total_cycles(T)`` cycles; a
  random subset is also converted to Verilog. On an RPU with ``delta`` (about a quarter of
  them), the same session also runs the program as a delta program (``with_delta``, random
  thresholds, 0 among them) on slowly varying inputs, before or after the dense run, from a
  state of zeros, a loaded one or the dense run's: h, c and saturations equal the delta
  model's (``Program.reference``), cycles, run cycles and activity ``delta_timing``'s;
* ``accepted-large``: a valid configuration too large to simulate within the CI budget (for
  example a capacity of 16384 or 2**18 activation segments): its schedule and its parameter
  file are checked instead.

An independent oracle (the documented rules, re-implemented here) says which configurations
and shapes are valid, so a valid one that is rejected fails as surely as an invalid one that
is accepted. Any other exception (from inside Amaranth, numpy, an IndexError, ...) fails the
test with the case's parameters.

The default run checks ``DEFAULT_CASES`` cases; ``pytest -m long`` (``make test-long``) checks
``LONG_CASES`` more. ``RPU_FUZZ_SEED`` changes the seed. One case can be replayed with
``python tests/test_fuzz_config.py INDEX [SEED]``.
"""

import json
import os
import random
import sys
import traceback
from dataclasses import dataclass, field, fields
from fractions import Fraction

import numpy as np
import pytest

if __name__ == "__main__":      # replayed as a script: the repository's packages, not tests/'s
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lstm_ref.fixed_lstm import FixedLSTM, quantize_lstm, choose_row_shifts
from rpu.config import RPUConfig, ConfigError
from rpu.compiler import plan_schedule, compile_stacked, with_delta
from rpu.compiler.delta_schedule import delta_timing, column_counts
from rpu.generator import emit_verilog, describe
from rpu.sim.session import Load, LoadState, Run, simulate_session
from tests.helpers import random_lstm


SEED = int(os.environ.get("RPU_FUZZ_SEED", "20170921"))
DEFAULT_CASES = 300
LONG_CASES = 1000
CHUNK = 6

FIELDS = tuple(f.name for f in fields(RPUConfig))
DEFAULTS = {f.name: f.default for f in fields(RPUConfig)}
HAS_CELL_FORMAT = "cell_frac_bits" in FIELDS
HAS_ROW_SCALES = "row_scales" in FIELDS
HAS_PACKED_WORDS = "weights_per_word" in FIELDS
HAS_BATCH = "batch" in FIELDS
HAS_DELTA = "delta" in FIELDS

# The documented limits (rpu/config.py); re-stated here so that the oracle is independent.
MAX_SIZE, MAX_LAYERS, MAX_LANES = 16384, 16, 1024
MAX_WEIGHT_DEPTH = 1 << 32          # weight addresses are 32-bit program words
MAX_WEIGHTS_PER_WORD, MAX_WORD_BITS = 16, 64
MAX_BATCH, MAX_MACS = 16, 4096

# Parameters tied by a constraint: a bad value of one may be reported under another.
GROUPS = [
    {"input_size"}, {"hidden_size"}, {"num_layers"},
    {"pim_arrays", "lanes_per_array", "weights_per_word", "activation_units",
     "elementwise_units", "batch"},
    {"data_width", "data_frac_bits", "cell_frac_bits", "activation_segments"},
    {"weight_width", "weight_frac_bits", "row_scales", "weights_per_word"},
    # delta needs weights_per_word, batch and num_layers 1 (the last group: a bad value of
    # one of these three is blamed under its own group above).
    {"delta", "weights_per_word", "batch", "num_layers"},
]
SHAPE_NAMES = {"input_size", "hidden_size", "num_layers", "first_layer"}

# Largest valid configuration that is still simulated (else: accepted-large).
TINY = dict(mac_lanes=16, weight_depth=4096, activation_segments=1024, max_layer_input=64,
            hidden_size=64)


# Oracle ---------------------------------------------------------------------------------

def _is_int(value):
    return type(value) is int


def _in(value, low, high):
    return _is_int(value) and low <= value <= high


def _with_defaults(values):
    """``values`` over the defaults; fractional bits left at None follow their width (three
    integer bits, at least 0 fractional bits), as documented."""
    p = {**DEFAULTS, **values}
    for frac, width in (("data_frac_bits", "data_width"), ("weight_frac_bits", "weight_width")):
        if p[frac] is None and _is_int(p[width]):
            p[frac] = max(0, p[width] - 4)
    return p


def _row_scales_valid(p):
    """row_scales: True, False, 1 or 0; on, it needs weights of at least 4 bits."""
    if not HAS_ROW_SCALES:
        return True
    value = p["row_scales"]
    if type(value) not in (bool, int) or value not in (0, 1):
        return False
    return not value or p["weight_width"] >= 4


def _delta_valid(p):
    """delta: True, False, 1 or 0; on, it needs weights_per_word, batch and num_layers 1."""
    if not HAS_DELTA:
        return True
    value = p["delta"]
    if type(value) not in (bool, int) or value not in (0, 1):
        return False
    return not value or (p.get("weights_per_word", 1) == 1 and p.get("batch", 1) == 1
                         and p["num_layers"] == 1)


def config_is_valid(values):
    """The documented rules of RPUConfig, independently of its implementation."""
    if set(values) - set(FIELDS):
        return False
    p = _with_defaults(values)
    if not all(_in(p[name], 1, high) for name, high in (
            ("input_size", MAX_SIZE), ("hidden_size", MAX_SIZE), ("num_layers", MAX_LAYERS),
            ("pim_arrays", MAX_LANES), ("lanes_per_array", MAX_LANES))):
        return False
    packing = p.get("weights_per_word", 1)
    if not _in(packing, 1, MAX_WEIGHTS_PER_WORD):
        return False
    # MAC lanes: weights_per_word per lane.
    lanes = p["pim_arrays"] * p["lanes_per_array"] * packing
    if lanes > MAX_LANES or lanes % 4:
        return False
    batch = p.get("batch", 1)
    if not _in(batch, 1, MAX_BATCH) or lanes * batch > MAX_MACS:
        return False
    units = lanes // 4
    for name in ("activation_units", "elementwise_units"):
        if not _in(p[name], 1, units) or units % p[name]:
            return False
    if not (_in(p["data_width"], 4, 20) and _in(p["data_frac_bits"], 0, p["data_width"] - 2)
            and _in(p["weight_width"], 2, 20)
            and _in(p["weight_frac_bits"], 0, p["weight_width"] - 1)
            and packing * p["weight_width"] <= MAX_WORD_BITS):
        return False
    if HAS_CELL_FORMAT and p["cell_frac_bits"] is not None \
            and not _in(p["cell_frac_bits"], 0, p["data_frac_bits"]):
        return False
    if not (_row_scales_valid(p) and _delta_valid(p)):
        return False
    segments = p["activation_segments"]
    if not (_in(segments, 1, 1 << (p["data_width"] - 2)) and segments & (segments - 1) == 0):
        return False
    I, H, L = p["input_size"], p["hidden_size"], p["num_layers"]
    columns = 1 + (I if L == 1 else max(I, H)) + H
    return L * -(-H // units) * columns <= MAX_WEIGHT_DEPTH


def _is_size(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def shape_is_valid(config, input_size, hidden_size, first_layer):
    """Whether plan_schedule must accept this shape on a valid ``config``."""
    if not _is_size(first_layer) or first_layer < 0:
        return False
    if _is_size(hidden_size):
        hidden = [hidden_size]
    elif isinstance(hidden_size, (list, tuple)) or (isinstance(hidden_size, np.ndarray)
                                                    and hidden_size.ndim == 1):
        hidden = list(hidden_size)
    else:
        return False
    if not 1 <= first_layer + len(hidden) <= config.num_layers or not hidden:
        return False
    capacity = config.input_size if first_layer == 0 else config.max_layer_input
    return (_is_size(input_size) and 1 <= input_size <= capacity
            and all(_is_size(h) and 1 <= h <= config.hidden_size for h in hidden))


# Generator ------------------------------------------------------------------------------

class _Unprintable:
    """An object of no sensible type at all."""
    def __repr__(self):
        return "<object>"


def _generic_wild(r):
    return r.choice([
        0, -1, -7, -(1 << 31), 1 << 31, 1 << 63, 10 ** 9, 1.0, 2.5, -0.0, float("nan"),
        float("inf"), "4", "", "sixteen", True, False, None, np.int64(4), np.int32(2),
        np.float64(8.0), np.uint8(1), [4], (8,), {"value": 4}, 4 + 0j, Fraction(4),
        _Unprintable(),
    ])


def _specific_wild(r, name, base):
    """Values of ``name`` near or beyond its limits, given the base (valid) values."""
    W, Ww = base["data_width"], base["weight_width"]
    dfb = base["data_frac_bits"]
    lanes = base["pim_arrays"] * base["lanes_per_array"] * base.get("weights_per_word", 1)
    U = lanes // 4
    non_divisors = [v for v in range(2, U) if U % v]
    choices = {
        "input_size": [MAX_SIZE + 1, 10 ** 6, 1 << 16, MAX_SIZE, 0, -3],
        "hidden_size": [MAX_SIZE + 1, 10 ** 6, 1 << 16, MAX_SIZE, 0, -3],
        "num_layers": [0, MAX_LAYERS + 1, 100, MAX_LAYERS, -1],
        "pim_arrays": [0, 3, base["pim_arrays"] + 1, MAX_LANES, MAX_LANES + 1, 2048],
        "lanes_per_array": [0, 3, 5, 6, 7, base["lanes_per_array"] + 1,
                            2 * base["lanes_per_array"], 1023, MAX_LANES + 1],
        "activation_units": [0, U + 1, 2 * U, 3, 5, 1024, U] + non_divisors,
        "elementwise_units": [0, U + 1, 2 * U, 3, 5, 1024, U] + non_divisors,
        "data_width": [1, 2, 3, 4, 20, 21, 32, 64],
        "data_frac_bits": [-1, W - 1, W, W + 3, 31, W - 2, 0, None],
        "cell_frac_bits": [-1, dfb + 1, W, dfb, 0, None],
        "weight_width": [0, 1, 2, 3, 4, 20, 21, 33],
        "weight_frac_bits": [-1, Ww, Ww + 1, 40, Ww - 1, 0, None],
        "row_scales": [2, -1, "yes", None, 1.0, np.bool_(True), 0, 1, True, False],
        "delta": [2, -1, "yes", None, 1.0, np.bool_(True), 0, 1, True, False],
        "batch": [0, -1, 17, 16, 100, MAX_MACS // max(lanes, 1) + 1],
        "weights_per_word": [0, -1, 3, 5, 16, 17, MAX_WORD_BITS // Ww,
                             MAX_WORD_BITS // Ww + 1, 2 * base.get("weights_per_word", 1)],
        "activation_segments": [0, -256, 3, 6, 100, 255, 1 << (W - 1), 1 << (W - 2), 1,
                                1 << 30, 1 << 19],
    }
    return r.choice(choices[name])


def _base_config(r):
    """A small valid configuration (drawn without the oracle's help)."""
    lanes = r.choice([4, 4, 8, 8, 12, 16])
    pim_arrays = r.choice([d for d in (1, 2, 3, 4) if lanes % d == 0])
    U = lanes // 4
    divisors = [d for d in range(1, U + 1) if U % d == 0]
    W = r.choice([4, 5, 6, 8, 8, 10, 12, 12, 16, 16, 16, 20])
    Ww = r.choice([2, 3, 4, 6, 8, 8, 12, 16, 16, 16, 20])
    values = dict(
        input_size=r.randint(1, 8), hidden_size=r.randint(1, 8),
        num_layers=r.choice([1, 1, 1, 2, 3]),
        pim_arrays=pim_arrays, lanes_per_array=lanes // pim_arrays,
        activation_units=r.choice(divisors), elementwise_units=r.choice(divisors),
        data_width=W, data_frac_bits=r.randint(0, W - 2),
        weight_width=Ww, weight_frac_bits=r.randint(0, Ww - 1),
        activation_segments=1 << r.randint(0, min(W - 2, 10)),
    )
    roll = r.random()
    if roll < 0.015:            # valid, but too large to simulate
        values[r.choice(["input_size", "hidden_size"])] = r.choice([MAX_SIZE, 5000])
    elif roll < 0.03:
        values.update(data_width=20, activation_segments=1 << r.randint(11, 18))
    elif roll < 0.04:
        values.update(pim_arrays=4, lanes_per_array=256, activation_units=r.choice([1, 64]),
                      elementwise_units=r.choice([1, 256]))
    elif roll < 0.045:          # around the limit of the weight memory depth (2**32)
        values.update(input_size=MAX_SIZE, hidden_size=MAX_SIZE, num_layers=r.choice([7, 8, 16]),
                      pim_arrays=1, lanes_per_array=4, activation_units=1, elementwise_units=1)
    if HAS_CELL_FORMAT and r.random() < 0.5:
        values["cell_frac_bits"] = r.randint(0, values["data_frac_bits"])
    # Leave out parameters whose defaults suit the base (formats of 16 bits).
    if values["data_width"] == 16 and values["data_frac_bits"] == 12 and r.random() < 0.5:
        del values["data_width"], values["data_frac_bits"]
    if Ww == 16 and values["weight_frac_bits"] == 12 and r.random() < 0.5:
        del values["weight_width"], values["weight_frac_bits"]
    if values["num_layers"] == 1 and r.random() < 0.5:
        del values["num_layers"]
    # Fractional bits left out follow the width (if the cell format still fits them).
    if "weight_frac_bits" in values and r.random() < 0.15:
        del values["weight_frac_bits"]
    if "data_frac_bits" in values and r.random() < 0.15 \
            and values.get("cell_frac_bits", 0) <= max(0, W - 4):
        del values["data_frac_bits"]
    if HAS_ROW_SCALES and Ww >= 4 and r.random() < 0.3:
        values["row_scales"] = r.choice([True, True, True, 1])
    # Packed weight words: the same MAC lanes on fewer lanes of P weights each.
    if HAS_PACKED_WORDS and r.random() < 0.3:
        packings = [P for P in (2, 3, 4, 8) if values["lanes_per_array"] % P == 0
                    and P * Ww <= MAX_WORD_BITS]
        if packings:
            P = r.choice(packings)
            values.update(lanes_per_array=values["lanes_per_array"] // P, weights_per_word=P)
    # A batch of sequences in lockstep.
    if HAS_BATCH and r.random() < 0.25:
        values["batch"] = r.choice([2, 2, 3, 4])
    return values


#: Share of the drawn base configurations built with the delta datapath.
DELTA_SHARE = 0.25


def _add_delta(r, values):
    """With ``DELTA_SHARE``, put ``values`` (a valid base) on the delta datapath: one layer,
    one sequence, one weight per word (a packed base is unpacked onto as many lanes); a few
    keep (or get) what delta cannot have, for ConfigError. Drawn from a stream of its own
    (``r``), so that the bases without delta are those drawn before delta existed."""
    if not HAS_DELTA:
        return
    if r.random() >= DELTA_SHARE or values.get("num_layers", 1) > 3:
        if r.random() < 0.05:                   # off, said explicitly
            values["delta"] = r.choice([False, 0])
        return
    values["delta"] = r.choice([True, True, True, 1])
    if r.random() < 0.15:                       # delta with more than one layer or sequence
        if values.get("num_layers", 1) == values.get("batch", 1) == 1 \
                and values.get("weights_per_word", 1) == 1:
            name = r.choice([n for n in ("num_layers", "batch") if n in FIELDS])
            values[name] = r.randint(2, 3)
        return
    packing = values.pop("weights_per_word", 1)
    values["lanes_per_array"] *= packing
    values.pop("batch", None)
    values.pop("num_layers", None)
    # The 1s delta needs, said explicitly.
    for name in ("num_layers", "batch", "weights_per_word"):
        if name in FIELDS and r.random() < 0.1:
            values[name] = 1


@dataclass
class Case:
    index: int
    values: dict                     # raw keyword arguments of RPUConfig
    from_dict: bool                  # built with RPUConfig.from_dict
    blame: set                       # names a config rejection may name
    input_size: object = None
    hidden_size: object = None
    first_layer: object = 0
    output_all: bool = False
    shape_blame: set = field(default_factory=set)
    steps: int = 1
    keep_state: bool = False
    weight_scale: float = 1.0
    full_range_x: bool = False
    verilog: bool = False

    def describe(self):
        return (f"case {self.index} (seed {SEED}): "
                f"{'RPUConfig.from_dict' if self.from_dict else 'RPUConfig'}({self.values!r}); "
                f"plan_schedule(input_size={self.input_size!r}, "
                f"hidden_size={self.hidden_size!r}, first_layer={self.first_layer!r}, "
                f"output_all={self.output_all}); steps={self.steps}, "
                f"keep_state={self.keep_state}, weight_scale={self.weight_scale}, "
                f"full_range_x={self.full_range_x}")


def draw_config(index):
    """The raw configuration of case ``index`` (the shape is drawn once it is known valid)."""
    r = random.Random(f"{SEED}/{index}/config")
    base = _base_config(r)
    _add_delta(random.Random(f"{SEED}/{index}/delta"), base)
    values = dict(base)
    full = _with_defaults(base)
    from_dict = r.random() < 0.2
    # A base beyond the weight memory depth is rejected under one of the sizes; one with
    # delta and what delta cannot have, under delta or that.
    blame = set()
    if not config_is_valid(base):
        blame = ({"delta", "weights_per_word", "batch", "num_layers"}
                 if HAS_DELTA and not _delta_valid(_with_defaults(base))
                 else {"num_layers", "input_size", "hidden_size"})
    mutations = r.choices([0, 1, 2, 3], weights=[44, 40, 11, 5])[0]
    for _ in range(mutations):
        if from_dict and r.random() < 0.15:
            key = r.choice(["hiden_size", "mac_lanes", "lanes", "cell_bits", "segments",
                            "Input_size"])
            values[key] = r.randint(1, 8)
            blame.add(key)
            continue
        name = r.choice([n for n in FIELDS if n in full])
        if r.random() < 0.35:
            value = _generic_wild(r)
        else:
            value = _specific_wild(r, name, full)
        values[name] = value
        blame |= next(group for group in GROUPS if name in group) & set(FIELDS)
    return Case(index, values, from_dict, blame)


def draw_shape(case, config):
    """Draw the LSTM shape (and the run) of ``case`` for the valid ``config``."""
    r = random.Random(f"{SEED}/{case.index}/shape")
    L = config.num_layers
    roll = r.random()
    if roll < 0.8:
        first_layer = 0
    elif roll < 0.94:
        first_layer = r.randint(0, L - 1)
    else:
        first_layer = r.choice([-1, L, L + 3, 0.0, 1.5, "0", None, True, np.int64(0)])
        case.shape_blame |= {"first_layer", "num_layers"}
    start = first_layer if _is_size(first_layer) and 0 <= first_layer < L else 0
    roll = r.random()
    if roll < 0.04:
        layers = L - start + 1
        case.shape_blame |= {"num_layers", "hidden_size"}
    elif roll < 0.06:
        layers = 0
        case.shape_blame |= {"num_layers", "hidden_size"}
    else:
        layers = r.randint(1, L - start)
    capacity = config.input_size if start == 0 else config.max_layer_input
    if r.random() < 0.08:
        input_size = r.choice([0, -1, capacity + 1, 2.0, "3", None, True, np.int64(1)])
        case.shape_blame.add("input_size")
    else:
        input_size = r.randint(1, min(capacity, 8))
    hidden = [r.randint(1, min(config.hidden_size, 8)) for _ in range(layers)]
    if hidden and r.random() < 0.08:
        hidden[r.randrange(len(hidden))] = r.choice(
            [0, -2, config.hidden_size + 1, 1.5, None, "2", False, np.int64(2)])
        case.shape_blame.add("hidden_size")
    roll = r.random()
    if roll < 0.03:
        hidden_size = r.choice([3.0, None, "3", np.array(3), np.array([[1]]), {1: 2}])
        case.shape_blame.add("hidden_size")
    elif len(hidden) == 1 and roll < 0.5:
        hidden_size = hidden[0]
    elif roll < 0.6:
        hidden_size = tuple(hidden)
    elif roll < 0.7 and all(_is_size(h) for h in hidden):
        hidden_size = np.array(hidden, dtype=np.int64)
    else:
        hidden_size = hidden
    case.input_size, case.hidden_size, case.first_layer = input_size, hidden_size, first_layer
    case.output_all = r.random() < 0.5
    case.steps = r.randint(1, 3)
    case.keep_state = r.random() < 0.25
    case.weight_scale = r.choice([0.25, 1.0, 1.0, 4.0, 16.0])
    case.full_range_x = r.random() < 0.3
    case.verilog = r.random() < 0.12


# Checking one case ----------------------------------------------------------------------

class FuzzFailure(AssertionError):
    pass


def _fail(case, problem, error=None):
    text = f"{problem}\n  {case.describe()}"
    if error is not None:
        text += "\n" + "".join(traceback.format_exception(error))
    raise FuzzFailure(text)


def _raised_in_project(error):
    """The innermost frame of the traceback is in the project (not Amaranth, numpy, ...)."""
    frames = traceback.extract_tb(error.__traceback__)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    filename = os.path.abspath(frames[-1].filename)
    return filename.startswith(root + os.sep) and "site-packages" not in filename


def _check_rejection(case, error, names, what):
    message = str(error)
    if not _raised_in_project(error):
        _fail(case, f"{what} rejected from outside the project", error)
    if not any(name in message for name in names):
        _fail(case, f"{what} rejected without naming any of {sorted(names)}: {message!r}",
              error)
    # ("delta needs batch 1 (...), not 2" says what is allowed too.)
    if not any(word in message for word in ("must", "unknown", "do not fit", "needs")):
        _fail(case, f"{what} rejected without saying what is allowed: {message!r}", error)


def make_config(case):
    """RPUConfig of the case, or None if it was rejected (correctly)."""
    valid = config_is_valid(case.values)
    try:
        config = (RPUConfig.from_dict(case.values) if case.from_dict
                  else RPUConfig(**case.values))
    except ConfigError as error:
        if valid:
            _fail(case, "valid configuration rejected", error)
        _check_rejection(case, error, case.blame, "configuration")
        return None
    except Exception as error:
        _fail(case, f"configuration raised {type(error).__name__}, not ConfigError", error)
    if not valid:
        _fail(case, f"invalid configuration accepted: {config!r}")
    if not all(type(v) is int or (name == "cell_frac_bits" and v is None)
               or (name in ("row_scales", "delta") and v is True)
               for name, v in config.to_dict().items()):
        _fail(case, f"accepted configuration holds non-int values: {config.to_dict()!r}")
    return config


def plan(case, config):
    """The schedule of the case's shape, or None if it was rejected (correctly)."""
    draw_shape(case, config)
    valid = shape_is_valid(config, case.input_size, case.hidden_size, case.first_layer)
    try:
        schedule = plan_schedule(config, case.input_size, case.hidden_size,
                                 first_layer=case.first_layer, output_all=case.output_all)
    except (ConfigError, ValueError, TypeError) as error:
        if valid:
            _fail(case, "valid LSTM shape rejected", error)
        _check_rejection(case, error, case.shape_blame & SHAPE_NAMES or SHAPE_NAMES, "shape")
        return None
    except Exception as error:
        _fail(case, f"plan_schedule raised {type(error).__name__}", error)
    if not valid:
        _fail(case, f"invalid LSTM shape accepted: {schedule!r}")
    return schedule


def is_tiny(config):
    return all(getattr(config, name) <= limit for name, limit in TINY.items())


def classify(case):
    """Outcome of the case without simulating: rejected-config, rejected-shape, simulated or
    accepted-large. Returns (outcome, config, schedule)."""
    config = make_config(case)
    if config is None:
        return "rejected-config", None, None
    schedule = plan(case, config)
    if schedule is None:
        return "rejected-shape", config, None
    return ("simulated" if is_tiny(config) else "accepted-large"), config, schedule


def _golden_model(config):
    if hasattr(config, "fixed_model"):
        return config.fixed_model()
    return FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                     activation_segments=config.activation_segments)


def _layers(rng, case, schedule):
    layers = []
    for layer in schedule.layers:
        layers.append(random_lstm(rng, layer.input_size, layer.hidden_size,
                                  scale=case.weight_scale))
    return layers


def _row_shifts(rng, config, layers):
    """With row scales: ``"auto"`` or random shifts, and the shifts that means (chosen here
    with the golden model's rule); (None, None) without."""
    if not getattr(config, "row_scales", False):
        return None, None
    if rng.random() < 0.5:
        return "auto", [choose_row_shifts(p["weight_ih"], p["weight_hh"], p["bias_ih"],
                                          p["bias_hh"], config.weight_format) for p in layers]
    shifts = [rng.integers(0, 16, len(p["weight_hh"])) for p in layers]
    return shifts, shifts


@dataclass
class DeltaRun:
    """A delta run of a case's program, in the same session as its dense run."""
    program: object                  # the delta program
    theta_x: int
    theta_h: int
    x: np.ndarray                    # (T, I) codes
    walk: str                        # how x was drawn
    state: str                       # "zeros", "loaded" (h0, c0) or "continued" (dense run's)
    first: bool                      # before the dense run (else after)
    h0: np.ndarray = None
    c0: np.ndarray = None

    def describe(self):
        return (f"delta run (rng [SEED, index, 1]): theta_x={self.theta_x}, "
                f"theta_h={self.theta_h}, {self.walk}, state {self.state}, "
                f"{'before' if self.first else 'after'} the dense run;\n"
                f"x = {self.x.tolist()}")


def _draw_delta_run(case, config, program):
    """A delta run of the (single-layer) ``program``: random thresholds, 0 among them;
    slowly varying inputs, a clipped random walk of codes (sometimes jumps over the whole
    range, for deltas of data_width + 1 bits); a state of zeros, loaded or left by the dense
    run; before or after the dense run. From a stream of its own."""
    rng = np.random.default_rng([SEED, case.index, 1])
    fmt = config.data_format
    I, H = program.schedule.input_size, program.schedule.layers[0].hidden_size
    one, limit = 1 << fmt.frac_bits, (1 << config.data_width) - 1

    def threshold():
        kind = rng.choice(5, p=[0.25, 0.25, 0.25, 0.15, 0.1])
        return int([0, rng.integers(1, max(2, one // 8 + 1)),
                    rng.integers(one // 8 + 1, one + 2), rng.integers(0, limit + 1),
                    limit][kind])

    theta_x, theta_h = threshold(), threshold()
    T = int(rng.integers(2, 6))
    if case.full_range_x and rng.random() < 0.5:
        x = rng.choice([fmt.min_code, fmt.max_code, 0, fmt.min_code + 1], (T, I))
        walk = "jumps over the whole range"
    else:
        sigma = max(0.5, float(rng.choice([0.03, 0.1, 0.3])) * one)
        start = fmt.quantize(rng.uniform(-2, 2, I))
        steps = np.rint(rng.normal(0, sigma, (T - 1, I))).astype(np.int64)
        x = np.vstack([start, start + np.cumsum(steps, axis=0)])
        walk = f"a random walk of {sigma:g} codes a step"
    x = np.clip(x, fmt.min_code, fmt.max_code).astype(np.int64)
    first = bool(rng.random() < 0.3)
    state = rng.choice(["zeros", "loaded"] if first else ["zeros", "loaded", "continued"],
                       p=[0.5, 0.5] if first else [0.5, 0.25, 0.25])
    run = DeltaRun(with_delta(program, theta_x=theta_x, theta_h=theta_h), theta_x, theta_h,
                   x, walk, str(state), first)
    if run.state == "loaded":
        run.h0 = fmt.quantize(rng.uniform(-1, 1, H))
        run.c0 = rng.integers(fmt.min_code, fmt.max_code + 1, H)
    return run


def _delta_operations(run, weights):
    operations = [Load(run.program, weights=weights)]
    if run.state == "loaded":
        operations.append(LoadState(h0=(run.h0,), c0=(run.c0,)))
    operations.append(Run(run.x, keep_state=run.state != "zeros"))
    return operations


def _check_delta_run(case, config, run, result, dense):
    """``result`` of ``run`` against the delta model (Program.reference) and the exact
    timing (delta_timing); ``dense`` is the dense run's golden output when the delta run
    continues from its state."""
    def fail(problem):
        _fail(case, f"delta run: {problem}\n  {run.describe()}")

    if run.state == "continued":
        run.h0, run.c0 = dense.h[-1], dense.c[-1]
    keep_state = run.state != "zeros"
    h0, c0 = ((run.h0,), (run.c0,)) if keep_state else (None, None)
    [expected] = run.program.reference(run.x, h0=h0, c0=c0)
    if run.theta_x == run.theta_h == 0:     # thresholds 0: the dense model, bit for bit
        matrix = run.program.matrix
        shifts = None if run.program.row_shifts is None else run.program.row_shifts[0]
        plain = _golden_model(config).run(matrix, run.x, h0=None if h0 is None else h0[0],
                                          c0=None if c0 is None else c0[0],
                                          row_shifts=shifts)
        if not (np.array_equal(plain.h, expected.h) and np.array_equal(plain.c, expected.c)):
            fail("the delta model with thresholds 0 differs from the dense model")
    if len(result.layers_h) != 1:
        fail(f"{len(result.layers_h)} layers streamed out, expected 1")
    h, c = result.layers_h[0], result.layers_c[0]
    if not (np.array_equal(h, expected.h) and np.array_equal(c, expected.c)):
        fail(f"h, c differ from the delta model:\nh = {h.tolist()}\n"
             f"expected {expected.h.tolist()}\nc = {c.tolist()}\n"
             f"expected {expected.c.tolist()}")
    nx, nh = column_counts(expected.x_mask, expected.h_mask)
    timing = delta_timing(run.program.schedule, nx, nh, keep_state=keep_state)
    checks = {
        "cycles": (result.cycles, timing.total_cycles),
        "run_cycles": (result.run_cycles, timing.run_cycles),
        "saturations": (result.saturations, expected.saturations),
        "activity": (result.activity, timing.activity),
    }
    for name, (got, want) in checks.items():
        if got != want:
            fail(f"{name}: simulated {got}, expected {want} (x columns {nx.tolist()}, "
                 f"h columns {nh.tolist()})")


def simulate_case(case, config, schedule):
    rng = np.random.default_rng([SEED, case.index])
    fmt = config.data_format
    layers = _layers(rng, case, schedule)
    argument, row_shifts = _row_shifts(rng, config, layers)
    program = compile_stacked(config, layers, output_all=case.output_all,
                              first_layer=case.first_layer, row_shifts=argument)
    matrices = program.matrices
    if row_shifts is not None:
        matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                                  config.weight_format, row_shifts=shifts)
                    for p, shifts in zip(layers, row_shifts)]
    if program.schedule != schedule:
        _fail(case, f"compiled schedule {program.schedule!r} differs from the plan "
                    f"{schedule!r}")
    T, I, B = case.steps, schedule.input_size, config.batch
    # Every sequence of the batch (one without): (B, T, I), states (B, H) per layer.
    if case.full_range_x:
        x = rng.integers(fmt.min_code, fmt.max_code + 1, (B, T, I))
    else:
        x = fmt.quantize(rng.standard_normal((B, T, I)))
    delta = (_draw_delta_run(case, config, program)
             if getattr(config, "delta", False) and len(schedule.layers) == 1 else None)
    operations = [Load(program, weights=delta is None or not delta.first)]
    h0 = c0 = None
    if case.keep_state:
        h0 = [rng.integers(fmt.min_code, fmt.max_code + 1, (B, layer.hidden_size))
              for layer in schedule.layers]
        c0 = [rng.integers(fmt.min_code, fmt.max_code + 1, (B, layer.hidden_size))
              for layer in schedule.layers]
        operations.append(LoadState(*((tuple(v) for v in (h0, c0)) if B > 1 else
                                      (tuple(v[0] for v in h0), tuple(v[0] for v in c0)))))
    operations.append(Run(x if B > 1 else x[0], keep_state=case.keep_state))
    if delta is not None and delta.first:
        operations = _delta_operations(delta, weights=True) + operations
    elif delta is not None:
        operations += _delta_operations(delta, weights=False)
    results = simulate_session(config, operations)
    result = results[1 if delta is not None and delta.first else 0]
    saturations = 0
    for b in range(B):
        expected = _golden_model(config).run_stacked(
            matrices, x[b], h0=None if h0 is None else [h[b] for h in h0],
            c0=None if c0 is None else [c[b] for c in c0], row_shifts=row_shifts)
        saturations += sum(r.saturations for r in expected)
        emitted = expected if schedule.output_all else expected[-1:]
        if len(result.layers_h) != len(emitted):
            _fail(case, f"{len(result.layers_h)} layers streamed out, expected "
                        f"{len(emitted)}")
        for position, (h, c, reference) in enumerate(zip(result.layers_h, result.layers_c,
                                                         emitted)):
            h, c = (h[b], c[b]) if B > 1 else (h, c)
            if not (np.array_equal(h, reference.h) and np.array_equal(c, reference.c)):
                _fail(case, f"streamed layer {position} of sequence {b} differs from the "
                            f"fixed-point model:\nh = {h.tolist()}\n"
                            f"expected {reference.h.tolist()}\nc = {c.tolist()}\n"
                            f"expected {reference.c.tolist()}")
    checks = {
        "cycles": (result.cycles, schedule.total_cycles(T)),
        "run_cycles": (result.run_cycles, schedule.run_cycles(T)),
        "saturations": (result.saturations, saturations),
        "activity": (result.activity, schedule.activity(T, keep_state=case.keep_state)),
    }
    for name, (got, want) in checks.items():
        if got != want:
            _fail(case, f"{name}: simulated {got}, expected {want}")
    if delta is not None:
        _check_delta_run(case, config, delta, results[0 if delta.first else 1], expected[-1])
    if case.verilog:
        text = emit_verilog(config)
        if "module rpu(" not in text.replace(" (", "("):
            _fail(case, "emit_verilog produced no module rpu")


def check_large(case, config, schedule):
    """A valid configuration too large to simulate: its capacity schedules, and its parameter
    file is plain JSON."""
    capacity = plan_schedule(config, config.input_size, [config.hidden_size] * config.num_layers)
    capacity.to_dict(20)
    schedule.to_dict(20)
    json.dumps(describe(config))


def run_case(index):
    """Check case ``index`` end to end; returns its outcome."""
    case = draw_config(index)
    outcome, config, schedule = classify(case)
    stage = "simulation"
    try:
        if outcome == "simulated":
            simulate_case(case, config, schedule)
        elif outcome == "accepted-large":
            stage = "large-configuration checks"
            check_large(case, config, schedule)
    except FuzzFailure:
        raise
    except Exception as error:
        _fail(case, f"{type(error).__name__} during the {stage} of a valid configuration",
              error)
    return outcome


# Tests ----------------------------------------------------------------------------------

def _chunks(start, count):
    return [range(i, min(i + CHUNK, start + count)) for i in range(start, start + count, CHUNK)]


def _run_chunk(indices):
    failures, outcomes = [], []
    for index in indices:
        try:
            outcomes.append(run_case(index))
        except FuzzFailure as failure:
            failures.append(str(failure))
    if failures:
        pytest.fail(f"{len(failures)} of {len(indices)} fuzzed configurations failed:\n\n"
                    + "\n\n".join(failures), pytrace=False)
    return outcomes


@pytest.mark.parametrize("indices", _chunks(0, DEFAULT_CASES),
                         ids=lambda r: f"cases{r.start}-{r.stop - 1}")
def test_fuzz_configurations(indices):
    _run_chunk(indices)


@pytest.mark.long
@pytest.mark.parametrize("indices", _chunks(DEFAULT_CASES, LONG_CASES),
                         ids=lambda r: f"cases{r.start}-{r.stop - 1}")
def test_fuzz_configurations_long(indices):
    _run_chunk(indices)


def _outcome_counts(indices):
    counts = dict.fromkeys(("rejected-config", "rejected-shape", "simulated",
                            "accepted-large"), 0)
    blamed, verilog = set(), 0
    for index in indices:
        case = draw_config(index)
        outcome, config, schedule = classify(case)
        counts[outcome] += 1
        if outcome == "simulated" and getattr(config, "row_scales", False):
            counts["simulated-row-scales"] = counts.get("simulated-row-scales", 0) + 1
        # A delta RPU with a single-layer LSTM: simulate_case runs a delta program on it.
        if outcome == "simulated" and getattr(config, "delta", False) \
                and len(schedule.layers) == 1:
            counts["simulated-delta"] = counts.get("simulated-delta", 0) + 1
        # Rejected for delta alone: its value, or what it needs (on, it is valid alone).
        if outcome == "rejected-config" and "delta" in case.values \
                and config_is_valid({k: v for k, v in case.values.items() if k != "delta"}):
            needs = config_is_valid({"delta": case.values["delta"]})
            key = "rejected-delta-needs" if needs else "rejected-delta"
            counts[key] = counts.get(key, 0) + 1
        if outcome == "rejected-config":
            blamed |= case.blame & set(FIELDS)
        verilog += outcome == "simulated" and case.verilog
    return counts, blamed, verilog


def _assert_not_vacuous(indices):
    count = len(indices)
    counts, blamed, verilog = _outcome_counts(indices)
    # Both outcomes occur many times; every parameter is among the causes of rejections.
    assert counts["rejected-config"] >= count // 4, counts
    assert counts["simulated"] >= count // 4, counts
    if HAS_ROW_SCALES:
        assert counts.get("simulated-row-scales", 0) >= count // 20, counts
    if HAS_DELTA:
        assert counts.get("simulated-delta", 0) >= count // 30, counts
        assert counts.get("rejected-delta", 0) >= max(1, count // 300), counts
        assert counts.get("rejected-delta-needs", 0) >= max(1, count // 300), counts
    assert counts["rejected-shape"] >= count // 40, counts
    assert counts["accepted-large"] >= 1, counts
    assert verilog >= count // 40, (verilog, counts)
    assert blamed == set(FIELDS), sorted(set(FIELDS) - blamed)


def test_fuzzer_is_not_vacuous():
    """Cheap (no simulation): the default cases cover every outcome, many times."""
    _assert_not_vacuous(range(DEFAULT_CASES))


@pytest.mark.long
def test_fuzzer_is_not_vacuous_long():
    _assert_not_vacuous(range(DEFAULT_CASES, DEFAULT_CASES + LONG_CASES))


def test_weight_depth_fits_the_program_word():
    # 16384 x 16384 on 4 lanes: 16384 groups of 1 + 16384 + 16384 columns per layer.
    values = dict(input_size=MAX_SIZE, hidden_size=MAX_SIZE, pim_arrays=1, lanes_per_array=4,
                  activation_units=1, elementwise_units=1)
    config = RPUConfig(num_layers=7, **values)
    assert config.weight_depth == 7 * 16384 * 32769 <= MAX_WEIGHT_DEPTH
    schedule = plan_schedule(config, MAX_SIZE, [MAX_SIZE] * 7)
    assert max(layer.weight_base for layer in schedule.layers) < 1 << 32
    for layers in (8, 16):
        assert not config_is_valid(dict(values, num_layers=layers))
        with pytest.raises(ConfigError, match="num_layers.*must be at most 2\\*\\*32"):
            RPUConfig(num_layers=layers, **values)


#: Configurations at the limits RPUConfig accepts: each must elaborate to Verilog (with SRAM
#: macros, as the generator writes it). Sums over lanes and units were once one chain of
#: additions as deep as the lane count: 320 lanes or more ended in a RecursionError.
LIMITS = {
    # 1024 lanes, 256 activation and 256 element-wise units.
    "1024-lanes": dict(input_size=4, hidden_size=4, pim_arrays=4, lanes_per_array=256,
                       activation_units=256, elementwise_units=256),
    "1024-lanes-one-array": dict(input_size=3, hidden_size=5, pim_arrays=1,
                                 lanes_per_array=1024, activation_units=1,
                                 elementwise_units=256),
    "16-layers": dict(input_size=6, hidden_size=5, num_layers=16, pim_arrays=1,
                      lanes_per_array=4, activation_units=1, elementwise_units=1),
    "16384-input-and-hidden": dict(input_size=MAX_SIZE, hidden_size=MAX_SIZE, pim_arrays=1,
                                   lanes_per_array=4, activation_units=1,
                                   elementwise_units=1),
    "all-limits": dict(input_size=MAX_SIZE, hidden_size=MAX_SIZE, num_layers=MAX_LAYERS,
                       pim_arrays=4, lanes_per_array=256, activation_units=256,
                       elementwise_units=256),
}
#: Limit cases elaborated in the default run; the others are ``long`` (minutes each).
DEFAULT_LIMITS = {"16-layers", "16384-input-and-hidden", "1024-lanes"}


def _check_limit(name):
    values = LIMITS[name]
    assert config_is_valid(values)
    config = RPUConfig(**values)
    assert (config.mac_lanes == MAX_LANES or config.num_layers == MAX_LAYERS
            or MAX_SIZE in (config.input_size, config.hidden_size))
    schedule = plan_schedule(config, config.input_size,
                             [config.hidden_size] * config.num_layers)
    assert schedule.layers[-1].weight_base < config.weight_depth
    text = emit_verilog(config)
    assert "module rpu(" in text.replace(" (", "(")
    # Every lane is there, with its weight memory.
    lanes_per_array = config.lanes_per_array
    assert f"lane{lanes_per_array - 1}" in text and f"lane{lanes_per_array}" not in text


@pytest.mark.parametrize("name", sorted(DEFAULT_LIMITS))
def test_limit_configuration_elaborates(name):
    _check_limit(name)


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(set(LIMITS) - DEFAULT_LIMITS))
def test_limit_configuration_elaborates_long(name):
    _check_limit(name)


def test_limits_are_all_reached():
    configs = [RPUConfig(**values) for values in LIMITS.values()]
    assert any(c.mac_lanes == MAX_LANES for c in configs)
    assert any(c.num_layers == MAX_LAYERS for c in configs)
    assert any(c.input_size == MAX_SIZE for c in configs)
    assert any(c.hidden_size == MAX_SIZE for c in configs)
    assert any(c.units_per_group == c.elementwise_units == MAX_LANES // 4 for c in configs)
    assert any(c.activation_units == MAX_LANES // 4 for c in configs)


def test_oracle_agrees_with_documented_examples():
    assert config_is_valid({})
    assert config_is_valid(dict(input_size=2, hidden_size=2, pim_arrays=1, lanes_per_array=4,
                                activation_units=1, elementwise_units=1, data_width=4,
                                data_frac_bits=2, weight_width=2, weight_frac_bits=0,
                                activation_segments=1))
    assert not config_is_valid(dict(activation_units=3))
    assert not config_is_valid(dict(data_frac_bits=15))
    assert not config_is_valid(dict(activation_segments=np.int64(256)))
    assert not config_is_valid(dict(hiden_size=4))


if __name__ == "__main__":
    # Replay one case verbosely: python tests/test_fuzz_config.py INDEX [SEED]
    if len(sys.argv) > 2:
        SEED = int(sys.argv[2])
    case = draw_config(int(sys.argv[1]))
    print(case.describe())
    print(run_case(int(sys.argv[1])))
