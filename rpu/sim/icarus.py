"""The Icarus Verilog back end: module ``tb_rpu`` (a procedural Verilog testbench, from the
package template ``templates/testbench.v``) compiled with the emitted RTL by ``iverilog``
and run by ``vvp``.

Icarus Verilog compiles as Verilog-2005 (:data:`ICARUS_FLAGS`), and the testbench reports
any X on a handshake or an output as an error. Builds are cached per configuration (see
:mod:`rpu.sim.build`) under ``icarus/``.
"""

import functools
import shutil
import subprocess

from rpu.sim.build import (Tool, SimulatorNotFound, BuildError, tool_version, render, sources,
                           cache_root, cached_build, cache_key, log_tail, template)
from rpu.sim.interface import vector
from rpu.sim.stimulus import FORMAT_VERSION, MAX_PATTERN


__all__ = ["find_icarus", "build_icarus", "testbench_verilog", "ICARUS_FLAGS",
           "ICARUS_INSTALL"]


ICARUS_INSTALL = ("install it with `apt-get install iverilog` (Debian/Ubuntu), "
                  "`brew install icarus-verilog` (macOS), or see "
                  "https://steveicarus.github.io/iverilog/")
#: Icarus Verilog options (part of the cache key). Verilog-2005, not -g2012: Yosys's Verilog
#: runs every "always @*" block once at time 0 through an event on a register declared
#: "= 0"; with SystemVerilog semantics Icarus applies declaration initializers without an
#: event, and the registers those blocks compute stay X until one of their inputs changes.
ICARUS_FLAGS = ("-g2005",)


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
    version = tool_version([iverilog, "-V"], ()) or ""
    return Tool(iverilog, (), version.splitlines()[0] if version else ""), vvp


# The testbench -----------------------------------------------------------------------------

def _lines(lines):
    """Lines for a template placeholder that stands at the start of a line."""
    return "".join(line + "\n" for line in lines)


def _declarations(iface, streams):
    """The load streams' registers, the status wires, the ``rpu_wrap`` connections and the
    stall patterns' memories."""
    loads = []
    for name, width in iface.loads:
        loads += [f"    reg {name}_valid = 1'b0;",
                  f"    reg {vector(width)}{name}_payload = 0, {name}_word;",
                  f"    wire {name}_ready;",
                  f"    reg s_{name};"]
    connections = ["clk", "latch", "rst", "start", "steps", "keep_state", "busy"]
    connections += [name for name, _ in iface.status]
    for name in streams:
        connections += [f"{name}_valid", f"{name}_payload", f"{name}_ready"]
    patterns = []
    for k in range(len(streams)):
        patterns += [f"    reg pat{k} [0:MAXPAT-1];", f"    integer len{k}, idx{k};"]
    return {
        "steps_vector": vector(iface.ports["steps"][1]),
        "load_declarations": _lines(loads),
        "status_wires": _lines(f"    wire {vector(width)}{name};" for name, width in iface.status),
        "connections": ", ".join(f".{c}({c})" for c in connections),
        "pattern_streams": ", ".join(f"{k} {s}" for k, s in enumerate(streams)),
        "pattern_declarations": _lines(patterns),
    }


def _tick(streams):
    """The handshake samples and pattern steps of task ``tick``."""
    return {
        "samples": _lines(f"            s_{name} = {name}_valid & {name}_ready;"
                          for name in streams),
        "handshakes": " ^ ".join(f"s_{name}" for name in streams),
        "pattern_steps": _lines(f"            idx{k} = (idx{k} + 1 == len{k}) ? 0 : idx{k} + 1;"
                                for k in range(len(streams))),
    }


def _header_checks(iface, streams):
    """The checks of the stimulus file's ``streams`` and ``pattern`` lines."""
    checks = []
    for name, width in list(iface.loads) + [("x", iface.x_width), ("h", iface.h_width)]:
        if name in ("x", "h"):
            checks += ['        r = $fscanf(fd, " %d", width);',
                       f'        if (r != 1 || width != {width}) fail("{name} payload width");']
        else:
            checks += ['        r = $fscanf(fd, " %s %d", name, width);',
                       f'        if (r != 2 || name != "{name}" || width != {width}) '
                       f'fail("stream {name}");']
    patterns = []
    for k, stream in enumerate(streams):
        field = "h_ready" if stream == "h" else f"{stream}_valid"
        patterns += ['        r = $fscanf(fd, " %s %s %d", token, name, n);',
                     f'        if (r != 3 || token != "pattern" || name != "{field}" || n < 1 '
                     f'|| n > MAXPAT) fail("pattern {field}");',
                     "        for (i = 0; i < n; i = i + 1) begin",
                     '            r = $fscanf(fd, " %d", bit_value);',
                     '            if (r != 1) fail("pattern bit");',
                     f"            pat{k}[i] = bit_value[0];",
                     "        end",
                     f"        len{k} = n;",
                     f"        idx{k} = 0;"]
    return {"read_streams": _lines(checks), "read_patterns": _lines(patterns)}


def _send_case(k, name):
    """The case of load stream ``k`` in the testbench's ``S`` operation."""
    return f"""                    {k}: begin
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
                    end
"""


def testbench_verilog(iface):
    """Module ``tb_rpu`` for Icarus Verilog: reads ``+stimulus=FILE``, writes
    ``+results=FILE``. Every step mirrors
    :func:`~rpu.sim.amaranth_sim.simulate_session_amaranth` (and
    :func:`rpu.sim.verilator.harness_cpp`)."""
    n = len(iface.loads)
    streams = [name for name, _ in iface.loads] + ["x", "h"]
    return render(
        "testbench.v", x_width=iface.x_width, h_width=iface.h_width, max_pattern=MAX_PATTERN,
        format_version=FORMAT_VERSION, n_loads=n, x_stream=n, h_stream=n + 1,
        send_cases="".join(_send_case(k, name) for k, (name, _) in enumerate(iface.loads)),
        status_format=" %h" * len(iface.status),
        status_args="".join(", " + name for name, _ in iface.status),
        **_declarations(iface, streams), **_tick(streams), **_header_checks(iface, streams))


# The build ---------------------------------------------------------------------------------

def build_icarus(config, build_dir=None):
    """Compile the Icarus Verilog simulation of ``config``, or find it in the cache.

    Returns
    -------
    (Path, str)
        The compiled ``.vvp`` file, and the path of ``vvp``.
    """
    tool, vvp = find_icarus()
    iface, files = sources(config)
    files["tb_rpu.v"] = testbench_verilog(iface)
    key = cache_key("icarus", tool.version, " ".join(ICARUS_FLAGS), template("testbench.v"),
                    *(files[name] for name in sorted(files)))

    def build(directory):
        for name, text in files.items():
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
                             f"last lines of {log}:\n{log_tail(log)}")

    directory = cached_build(cache_root(build_dir, "icarus"), key, build)
    return directory / "tb_rpu.vvp", vvp
