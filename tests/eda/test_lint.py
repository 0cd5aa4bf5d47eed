"""Verilator's lint (-Wall) is clean on the generated Verilog, with justified waivers.

``rpu/eda/lint.vlt`` waives what Amaranth's Verilog always produces (see the comment above each
waiver). These tests check that the waivers leave no warning for several configurations,
that every waiver has its own justification and a scope (a rule, a file and a message), that
every waiver is still needed, and that the broad waiver of unused signals hides no unused
input port of ``rpu``.
"""

import re
import shlex

import pytest

from rpu.config import RPUConfig
from rpu.eda.lint import lint_verilog, LINT_CONFIG
from rpu.sim.interface import rpu_verilog, parse_ports
from rpu.sim.verilator import find_verilator
from tests.helpers import require_simulator


CONFIGS = {
    # One PIM array and one layer: the zero-width "array" and "layer" fields.
    "1-array": RPUConfig(input_size=5, hidden_size=3, pim_arrays=1, lanes_per_array=8,
                         activation_units=1, elementwise_units=2, data_width=10,
                         data_frac_bits=5, weight_width=8, weight_frac_bits=5,
                         activation_segments=32),
    # Stacked layers, 12 lanes over 3 arrays, widest formats.
    "3-layers-wide": RPUConfig(input_size=7, hidden_size=6, num_layers=3, pim_arrays=3,
                               lanes_per_array=4, activation_units=3, elementwise_units=3,
                               data_width=20, data_frac_bits=14, weight_width=20,
                               weight_frac_bits=16, cell_frac_bits=12),
    # The default RPU (I=64, H=128, 64 lanes).
    "default": RPUConfig(),
}


@pytest.fixture(scope="module", autouse=True)
def verilator():
    require_simulator("verilator", find_verilator)


_LINT = {}


def lint(name, waivers):
    if (name, waivers) not in _LINT:
        _LINT[name, waivers] = lint_verilog(CONFIGS[name], waivers=waivers)
    return _LINT[name, waivers]


@pytest.mark.parametrize("name", CONFIGS)
def test_lint_clean(name):
    warnings = lint(name, True)
    assert warnings == [], "\n".join(warnings[:50])


def waivers():
    """(line number, options, justification) of every lint_off line of lint.vlt."""
    lines = LINT_CONFIG.read_text().splitlines()
    assert lines[0] == "`verilator_config"
    found, comment = [], []
    for number, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if line.startswith("//"):
            comment.append(line[2:].strip())
        elif line.startswith("lint_off"):
            options = {}
            words = shlex.split(line)[1:]
            for key, value in zip(words[::2], words[1::2]):
                options[key] = value
            found.append((number, options, " ".join(comment).strip()))
            comment = []
        elif line:
            pytest.fail(f"lint.vlt:{number}: only comments and lint_off lines expected: "
                        f"{line!r}")
        else:
            comment = []        # a justification sits directly above its waiver
    return found


def test_every_waiver_is_justified_and_scoped():
    found = waivers()
    assert len(found) >= 5
    for number, options, justification in found:
        # Its own comment, directly above, with an actual explanation.
        assert len(justification.split()) >= 12, \
            f"lint.vlt:{number}: a waiver needs a justification comment directly above it"
        assert set(options) == {"-rule", "-file", "-match"}, \
            f"lint.vlt:{number}: a waiver names a rule, a file and a message: {options}"
        assert options["-rule"] not in ("*", "") and "*" not in options["-rule"]
        assert options["-file"].startswith("*/") and options["-file"].endswith(".v"), \
            f"lint.vlt:{number}: scope a waiver to one file"


def test_lint_config_has_no_stray_text():
    text = LINT_CONFIG.read_text()
    # Verilator reads comments starting with "verilator" as directives.
    assert not re.search(r"//\s*verilator", text, re.I)
    assert "`" not in text.split("\n", 1)[1], "no backquote after the first line"


def wildmatch(text, pattern):
    """Verilator's wildcards: "*" and "?" only ("[" is literal, unlike fnmatch)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.S) is not None


def _message(warning):
    """rule, file, message of a Verilator warning line."""
    match = re.match(r"%Warning-(\w+): (\S+?):\d+:\d+: (.*)", warning)
    assert match, warning
    return match.groups()


def test_every_waiver_is_needed():
    """Each waiver matches a warning of the unwaived lint of some configuration (a stale one
    must go)."""
    messages = [_message(warning) for name in CONFIGS for warning in lint(name, False)
                if warning.startswith("%Warning")]
    assert messages
    for number, options, _ in waivers():
        assert any(rule == options["-rule"] and wildmatch(path, options["-file"])
                   and wildmatch(text, options["-match"])
                   for rule, path, text in messages), \
            f"lint.vlt:{number}: the waiver matches no warning any more: remove it"


def test_unwaived_lint_only_has_waived_rules():
    """Without the waivers, only the waived rules warn (the lint does run)."""
    waived = {options["-rule"] for _, options, _ in waivers()}
    warnings = lint("1-array", False)
    assert warnings
    rules = {_message(warning)[0] for warning in warnings if warning.startswith("%Warning")}
    assert rules <= waived


def test_every_input_port_is_used():
    """The waiver of unused signals covers Amaranth's alias wires; an input port of rpu that
    nothing reads would be a real bug."""
    for name in ("1-array", "default"):
        text = rpu_verilog(CONFIGS[name])
        top_end = text.count("\n", 0, text.index("\nendmodule")) + 1
        inputs = {port for port, (direction, _) in parse_ports(text).items()
                  if direction == "input"}
        for warning in lint(name, False):
            match = re.match(r"%Warning-UNUSEDSIGNAL: \S+?rpu\.v:(\d+):\d+: Signal is not "
                             r"(?:driven, nor )?used: '([^']*)'", warning)
            if match and int(match.group(1)) <= top_end:
                assert match.group(2) not in inputs, warning
