"""A simulated board: the whole board design (UART, protocol engine, RPU;
:class:`rpu.fpga.link.HostLink`) compiled by Verilator, behind a pseudo-terminal.

The simulation's C++ harness plays the board's USB serial bridge: it opens a pseudo-terminal,
turns the bytes written to it into the serial waveform of the design's ``rx`` pin (``divisor``
clock cycles per bit, 8N1), and the waveform of its ``tx`` pin back into bytes. The host
driver opens the pseudo-terminal's path exactly as it opens ``/dev/ttyUSB0``::

    with SimulatedBoard(config) as simulated, Board(simulated.port) as board:
        board.load(program)
        h, counters = board.run(x_codes)

To keep simulations fast the UART runs at a few clock cycles per bit (``divisor``, default 4)
and the harness sleeps while the design waits for the host (the link's ``quiescent``
output). :meth:`SimulatedBoard.inject_framing_error` sends the next byte with a low stop bit.
"""

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from amaranth.back import verilog

from lstm_ref.checks import check_integer
from rpu.config import RPUConfig
from rpu.fpga import protocol
from rpu.fpga.link import HostLink
from rpu.sim.build import cached_build
from rpu.sim.hdl import find_verilator, BuildError


__all__ = ["SimulatedBoard", "build_board_model", "board_verilog", "HARNESS_CPP"]

TOP = "rpu_board"

#: Verilator options of the board model (part of the cache key).
VERILATOR_FLAGS = ("--cc", "--exe", "--build", "-O2", "--x-assign", "0", "--x-initial", "0",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", TOP,
                   "-MAKEFLAGS", "OPT_FAST=-O1")

HARNESS_CPP = r"""// The board's USB serial bridge around the Verilated board design
// (rpu.host.simulated).
#include "Vrpu_board.h"
#include "verilated.h"
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s DIVISOR\n", argv[0]); return 2; }
    const int divisor = atoi(argv[1]);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("pty"); return 1; }
    const char* name = ptsname(master);
    // Keep the terminal's other end open, so that the master never reads EIO between two
    // users, and make it raw: no echo, no line discipline.
    int slave = open(name, O_RDWR | O_NOCTTY);
    struct termios raw;
    if (slave < 0 || tcgetattr(slave, &raw)) { perror("pty slave"); return 1; }
    cfmakeraw(&raw);
    tcsetattr(slave, TCSANOW, &raw);
    fcntl(master, F_SETFL, O_NONBLOCK);
    fcntl(0, F_SETFL, O_NONBLOCK);
    printf("PTY %s\n", name);
    fflush(stdout);

    Verilated::commandArgs(argc, argv);
    Vrpu_board* top = new Vrpu_board;
    top->rx = 1;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) { top->clk = 1; top->eval(); top->clk = 0; top->eval(); }
    top->rst = 0;

    std::deque<unsigned char> to_board, to_host;
    int send_bits = 0, send_timer = 0; unsigned send_word = 0;   // bridge -> board rx
    int recv_bits = 0, recv_timer = 0; unsigned recv_word = 0;   // board tx -> bridge
    bool bad_stop = false;
    char control[256]; size_t control_len = 0;
    unsigned long long cycle = 0;
    for (;;) {
        bool idle = send_bits == 0 && recv_bits == 0 && to_board.empty() && to_host.empty();
        bool sleep = idle && top->quiescent;
        if ((cycle & 1023) == 0 || sleep) {
            struct pollfd fds[2] = {{master, POLLIN, 0}, {0, POLLIN, 0}};
            poll(fds, 2, sleep ? 20 : 0);
            unsigned char buffer[4096];
            ssize_t n = read(master, buffer, sizeof buffer);
            for (ssize_t i = 0; i < n; ++i) to_board.push_back(buffer[i]);
            ssize_t c = read(0, control + control_len, sizeof control - 1 - control_len);
            if (c == 0) break;                                    // the host went away
            if (c > 0) {
                control_len += c;
                control[control_len] = 0;
                char* line;
                while ((line = strchr(control, '\n'))) {
                    *line = 0;
                    if (!strcmp(control, "framing")) bad_stop = true;
                    if (!strcmp(control, "quit")) goto done;
                    size_t rest = control_len - (line + 1 - control);
                    memmove(control, line + 1, rest);
                    control_len = rest;
                    control[control_len] = 0;
                }
            }
        }
        // Bridge -> board: start bit, 8 data bits LSB first, stop bit (low if injected),
        // then, after a low stop bit, two idle bits so that the receiver sees the line idle.
        if (send_bits == 0 && !to_board.empty()) {
            unsigned stop = bad_stop ? 0u : 1u;
            send_word = (to_board.front() << 1) | (stop << 9) | (bad_stop ? (3u << 10) : 0u);
            send_bits = bad_stop ? 12 : 10;
            bad_stop = false;
            to_board.pop_front();
            send_timer = divisor;
        }
        top->rx = send_bits ? (send_word & 1) : 1;
        top->clk = 1; top->eval(); top->clk = 0; top->eval();
        ++cycle;
        if (send_bits && --send_timer == 0) {
            send_word >>= 1; --send_bits; send_timer = divisor;
        }
        // Board -> bridge: sample in the middle of each bit.
        if (recv_bits == 0) {
            if (!top->tx) { recv_bits = 10; recv_timer = divisor / 2; recv_word = 0; }
        } else if (--recv_timer == 0) {
            recv_word |= (unsigned)top->tx << (10 - recv_bits);
            recv_timer = divisor;
            if (--recv_bits == 0) to_host.push_back((recv_word >> 1) & 0xff);
        }
        while (!to_host.empty()) {
            unsigned char byte = to_host.front();
            if (write(master, &byte, 1) != 1) break;              // full: retry later
            to_host.pop_front();
        }
    }
done:
    top->final();
    delete top;
    close(slave);
    close(master);
    return 0;
}
"""


def board_verilog(config, *, divisor, max_payload=protocol.DEFAULT_MAX_PAYLOAD,
                  fifo_depth=protocol.DEFAULT_FIFO_DEPTH, timeout_cycles=None):
    """The Verilog of :class:`rpu.fpga.link.HostLink` as module ``rpu_board`` (ports clk,
    rst, rx, tx, busy, error, quiescent)."""
    link = HostLink(config=config, divisor=divisor, max_payload=max_payload,
                    fifo_depth=fifo_depth, timeout_cycles=timeout_cycles)
    return verilog.convert(link, name=TOP, emit_src=False)


def _cache_root(build_dir):
    if build_dir is not None:
        return Path(build_dir) / "board-verilator"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rpu" / "board-verilator"


def build_board_model(config, *, divisor, build_dir=None, **link_options):
    """Compile the board design of ``config`` with Verilator (cached by the Verilog, the
    harness and the tool's version).

    Returns
    -------
    (Path, float)
        The executable, and the seconds its build took now (0.0 if cached).
    """
    tool = find_verilator()
    text = board_verilog(config, divisor=divisor, **link_options)
    digest = hashlib.sha256()
    for part in (tool.version, " ".join(VERILATOR_FLAGS), text, HARNESS_CPP):
        digest.update(part.encode() + b"\0")
    timings = {"seconds": 0.0}

    def build(staging):
        (staging / f"{TOP}.v").write_text(text)
        (staging / "harness.cpp").write_text(HARNESS_CPP)
        command = [tool.executable, *VERILATOR_FLAGS,
                   *(option for flag in tool.make_flags for option in ("-MAKEFLAGS", flag)),
                   "-j", "2", "--Mdir", "obj", "-o", str(staging / "Vrpu_board"),
                   f"{TOP}.v", "harness.cpp"]
        started = time.monotonic()
        log = staging / "build.log"
        with open(log, "w") as file:
            result = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT,
                                    cwd=staging, env=tool.environ())
        if result.returncode != 0 or not (staging / "Vrpu_board").is_file():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise BuildError(f"Verilator build of the board failed (exit "
                             f"{result.returncode}):\n{tail}")
        timings["seconds"] = time.monotonic() - started
        shutil.rmtree(staging / "obj", ignore_errors=True)

    final = cached_build(_cache_root(build_dir), digest.hexdigest()[:24], build)
    return final / "Vrpu_board", timings["seconds"]


class SimulatedBoard:
    """The board design running in Verilator behind a pseudo-terminal (:attr:`port`).

    Parameters
    ----------
    config : RPUConfig
    divisor : int
        Clock cycles per UART bit (>= 4).
    build_dir : path, optional
        Where to cache the Verilator build (default ``~/.cache/rpu/board-verilator``).
    **link_options
        ``max_payload``, ``fifo_depth``, ``timeout_cycles`` of :class:`HostLink`.
    """

    def __init__(self, config, *, divisor=4, build_dir=None, **link_options):
        if not isinstance(config, RPUConfig):
            raise TypeError(f"config must be an RPUConfig, not {config!r}")
        self.divisor = check_integer("divisor", divisor, 4, 1 << 20)
        self.executable, self.build_seconds = build_board_model(
            config, divisor=divisor, build_dir=build_dir, **link_options)
        self.process = subprocess.Popen([str(self.executable), str(divisor)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("PTY "):
            self.close()
            raise BuildError(f"the board simulation did not start: {line!r}")
        self.port = line[4:]

    def inject_framing_error(self):
        """Send the next byte to the board with a low stop bit."""
        self.process.stdin.write(b"framing\n")
        self.process.stdin.flush()

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
