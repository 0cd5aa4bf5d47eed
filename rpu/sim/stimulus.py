"""The stimulus and results files shared by the Verilator and Icarus back ends.

A session (:mod:`rpu.sim.operations`) is written as a stimulus file that both HDL testbenches
(the C++ harness and ``tb_rpu.v``) replay step by step as
:func:`~rpu.sim.amaranth_sim.simulate_session_amaranth` does; what they observe is written
as a results file, read back into :class:`~rpu.sim.operations.RunResult` values.

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

import numpy as np

from rpu.sim.interface import interface, rpu_component, packer, decoder, signed
from rpu.sim.operations import (Load, Run, RunResult, StallPatterns, SimulationError,
                                complete_run_result, run_limit, x_transfers, run_steps)


__all__ = ["FORMAT_VERSION", "MAX_PATTERN", "write_stimulus", "read_results", "same_result"]


#: Version of the stimulus and results formats.
FORMAT_VERSION = 2
#: Longest stall pattern the testbenches hold.
MAX_PATTERN = 1 << 16


def _pattern(stalls, field):
    if hasattr(stalls, field):
        return np.asarray(getattr(stalls, field)).reshape(-1)
    # A stream the session does not know yet: it never sends on it, so any pattern will do.
    return np.ones(1, dtype=bool)


def _outputs_per_step(program):
    return program.schedule.outputs_per_step()


def _header(iface, stalls):
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
    return lines


def write_stimulus(config, operations, stalls=None, max_cycles=None, iface=None):
    """The stimulus file's text for a session (see the module documentation), following
    what :func:`~rpu.sim.amaranth_sim.simulate_session_amaranth` sends."""
    stalls = StallPatterns.never() if stalls is None else stalls
    iface = interface(config) if iface is None else iface
    members = rpu_component(config).signature.members
    index = {name: k for k, (name, _) in enumerate(iface.loads)}
    packers = {name: packer(members[name].signature.members["payload"].shape)
               for name, _ in iface.loads}
    lines = _header(iface, stalls)

    def send(stream, payloads):
        if stream not in index:
            raise ValueError(f"the emitted rpu has no {stream!r} stream")
        pack = packers[stream]
        lines.append(f"S {index[stream]} {len(payloads)}")
        lines.extend(format(pack(payload), "x") for payload in payloads)

    pack_x = packer(members["x"].signature.members["payload"].shape)
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
        steps = run_steps(config, operation.x_codes)
        limit = run_limit(program, steps, stalls, max_cycles)
        # simulate_session asserts rst when the run's cycle count (from 1) equals
        # reset_after, and gives up past the limit: other values never reset.
        reset_after = operation.reset_after
        reset_after = int(reset_after) if reset_after is not None else 0
        if not 1 <= reset_after <= limit:
            reset_after = 0
        words = [format(pack_x(word), "x") for word in x_transfers(config, operation.x_codes)]
        lines.append(f"R {steps} {int(bool(operation.keep_state))} {reset_after} {limit} "
                     f"{steps * _outputs_per_step(program)} {len(words)}")
        lines.extend(words)
    lines.append("E")
    return "\n".join(lines) + "\n"


def _stopped(kind, fields, operation, program, pairs, stalls, max_cycles):
    """The SimulationError of a run that stopped the testbench (results line T or X)."""
    steps = run_steps(program.config, operation.x_codes)
    if kind == "T":
        limit = run_limit(program, steps, stalls, max_cycles)
        error = SimulationError(
            f"no result after {limit} cycles: {fields[1]} of "
            f"{steps * _outputs_per_step(program)} h values and {fields[2]} of "
            f"{len(x_transfers(program.config, operation.x_codes))} x values transferred")
        error.outputs = pairs
        return error
    return SimulationError(f"the RPU took {fields[1]} of "
                           f"{len(x_transfers(program.config, operation.x_codes))} x values")


def read_results(config, operations, text, stalls=None, max_cycles=None, iface=None):
    """Turn a results file into RunResults (one per Run), raising SimulationError where
    :func:`~rpu.sim.amaranth_sim.simulate_session_amaranth` would.

    Returns
    -------
    (list of RunResult, int)
        The results and the session's cycle count.
    """
    stalls = StallPatterns.never() if stalls is None else stalls
    iface = interface(config) if iface is None else iface
    members = rpu_component(config).signature.members
    decoders = [(name, decoder(members[name].shape)) for name, _ in iface.status]
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
        if any(c in "xXzZ" for c in "".join(fields[2:])):
            raise SimulationError(f"HDL simulation: undefined (X/Z) bits in the RPU's outputs: "
                                  f"{line!r}")
        if kind == "H":
            payload = int(fields[2], 16)
            # The pair of sequence b at bits 2W*b (h in the low half, then c).
            transfer = [(signed(payload >> (2 * W * b), W),
                         signed(payload >> (2 * W * b + W), W))
                        for b in range(config.batch)]
            pairs.append(transfer[0] if config.batch == 1 else transfer)
            continue
        if kind in ("T", "X"):
            raise _stopped(kind, fields, operation, program, pairs, stalls, max_cycles)
        if kind != "D" or fields[1] not in ("ok", "reset"):
            raise SimulationError(f"HDL testbench: unexpected results line {line!r}")
        outputs = np.array(pairs, dtype=np.int64).reshape(
            (-1, 2) if config.batch == 1 else (-1, config.batch, 2))
        pairs = []
        if fields[1] == "reset":
            results.append(RunResult(outputs, None, None, int(fields[2]), None, None))
            continue
        if len(fields) != 3 + len(decoders):
            raise SimulationError(f"HDL testbench: unexpected results line {line!r}")
        status = {name: decode(int(value, 16))
                  for (name, decode), value in zip(decoders, fields[3:])}
        # ``status`` holds the RPU's outputs (cycles, saturations, activity) after the run.
        results.append(complete_run_result(
            program, run_steps(config, operation.x_codes), outputs, cycles=int(fields[2]),
            run_cycles=status["cycles"], saturations=status["saturations"],
            activity=status.get("activity")))
    if session_cycles is None or len(results) != len(runs):
        raise SimulationError(f"HDL testbench stopped early: {len(results)} of {len(runs)} "
                              f"runs reported")
    return results, session_cycles


def same_result(a, b):
    """Whether two RunResults are equal in every field (arrays element by element) but
    ``stalled_cycles``, which only Amaranth's simulator reports."""
    def equal(x, y):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return x is not None and y is not None and np.array_equal(x, y)
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and all(equal(u, v) for u, v in zip(x, y))
        return (x is None) == (y is None) and bool(x == y)
    return all(equal(getattr(a, field.name), getattr(b, field.name))
               for field in dataclasses.fields(RunResult) if field.name != "stalled_cycles")
