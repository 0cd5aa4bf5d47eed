"""The interface the HDL testbenches drive: the emitted ``rpu`` module's ports, checked
against the RPU's signature, and the ``rpu_wrap`` module around it.

* :func:`interface` -- the load streams, the x and h streams and the status outputs of a
  configuration's RPU (:class:`Interface`), checked against its emitted Verilog;
* :func:`wrapper_verilog` -- module ``rpu_wrap``: the ``rpu`` instance with plain port names
  (Verilator mangles ``__`` in C++ names). Every input stream but ``x`` becomes a *load
  stream* the testbenches can send words on; any other input they do not know is tied to
  zero, any output they do not read is left open.
"""

import functools
import re
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.lib.wiring import Flow


__all__ = ["Interface", "interface", "parse_ports", "wrapper_verilog", "rpu_verilog",
           "rpu_component", "packer", "decoder", "signed"]


@functools.lru_cache(maxsize=4)
def rpu_verilog(config):
    """The emitted ``rpu.v`` of ``config`` (cached: emitting a large RPU takes seconds)."""
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


def packer(shape):
    """A function packing a value as Amaranth's ``ctx.set`` does (a dict for a struct, a
    sequence for an array, an integer otherwise) into an unsigned integer."""
    if isinstance(shape, data.Layout):
        fields = [(key, field.offset, packer(field.shape)) for key, field in shape]
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


def signed(value, width):
    """``value``'s low ``width`` bits as a two's complement integer."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def decoder(shape):
    """The inverse of :func:`packer`: an unsigned integer -> what ``ctx.get`` returns, as
    plain Python values (a dict for a struct, a list for an array, an int otherwise)."""
    if isinstance(shape, data.StructLayout):
        fields = [(key, field.offset, Shape.cast(field.shape).width, decoder(field.shape))
                  for key, field in shape]
        return lambda value: {key: inner((value >> offset) & ((1 << width) - 1))
                              for key, offset, width, inner in fields}
    if isinstance(shape, data.ArrayLayout):
        width = Shape.cast(shape.elem_shape).width
        inner = decoder(shape.elem_shape)
        return lambda value: [inner((value >> (k * width)) & ((1 << width) - 1))
                              for k in range(shape.length)]
    shape = Shape.cast(shape)
    if shape.signed:
        return lambda value: signed(value, shape.width)
    return lambda value: value & ((1 << shape.width) - 1)


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


def rpu_component(config):
    """An RPU, only to read its signature (never elaborated)."""
    from rpu.hw.top import RPU
    rpu = RPU(config=config)
    rpu._MustUse__used = True       # silence Amaranth's UnusedElaboratable warning
    return rpu


def _payload_width(member):
    return Shape.cast(member.signature.members["payload"].shape).width


def _check_streams(ports, streams):
    for name, width, direction in streams:
        back = "output" if direction == "input" else "input"
        for port, expected in ((f"{name}__valid", (direction, 1)),
                               (f"{name}__payload", (direction, width)),
                               (f"{name}__ready", (back, 1))):
            if ports.get(port) != expected:
                raise ValueError(f"port {port} of the emitted rpu is {ports.get(port)}, "
                                 f"expected {expected}")


def interface(config, verilog_text=None):
    """The :class:`Interface` of ``config``'s RPU, checked against its emitted Verilog."""
    verilog_text = rpu_verilog(config) if verilog_text is None else verilog_text
    ports = parse_ports(verilog_text)
    members = rpu_component(config).signature.members
    loads = [(name, _payload_width(member)) for name, member in members.items()
             if member.is_signature and member.flow == Flow.In and name != "x"]
    streams = [(name, width, "input") for name, width in loads]
    streams += [("x", _payload_width(members["x"]), "input"),
                ("h", _payload_width(members["h"]), "output")]
    _check_streams(ports, streams)
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
    return Interface(tuple(loads), streams[-2][1], streams[-1][1], tuple(status), ports)


def vector(width):
    """A Verilog range for ``width`` bits (``"[W-1:0] "``, or nothing for one bit)."""
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
            declarations.append(f"    {direction} wire {vector(width)}{name}")
            if direction == "input" and port != "clk":
                registers.append(f"    reg {vector(width)}{name}_q = {width}'d0;")
                updates.append(f"        {name}_q <= {name};")
                connections.append(f"        .{port}({name}_q)")
            else:
                connections.append(f"        .{port}({name})")
        elif direction == "input":
            connections.append(f"        .{port}({width}'d0)")   # not driven by the benches
        else:
            connections.append(f"        .{port}()")             # not read by the benches
    return ("// Generated by rpu.sim: the RPU with the testbenches' port names. The inputs\n"
            "// they drive are held in registers loaded on every edge of latch; inputs they\n"
            "// do not drive are tied to zero, outputs they do not read are left open.\n"
            "module rpu_wrap (\n" + ",\n".join(declarations) + "\n);\n"
            + "\n".join(registers) + "\n"
            "    always @(posedge latch or negedge latch) begin\n" + "\n".join(updates)
            + "\n    end\n"
            "    rpu dut (\n" + ",\n".join(connections) + "\n    );\n"
            "endmodule\n")
