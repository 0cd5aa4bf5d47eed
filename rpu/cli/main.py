"""Command line: ``python -m rpu generate|simulate|synth|run|explore|fpga``.

The parser and the dispatch; every command is a module of :mod:`rpu.cli` with
``add_parser(commands)`` and ``run(args)``.

Exit codes: 0 success, 2 bad input (arguments, configuration, files), 1 anything else.
"""

import argparse
import sys

from rpu.cli import explore, fpga, generate, run, simulate, synth
from rpu.cli.options import InputError
from rpu.config import ConfigError


__all__ = ["main"]

#: The commands, in the order of ``--help``.
COMMANDS = {"generate": generate, "simulate": simulate, "synth": synth, "run": run,
            "explore": explore, "fpga": fpga}


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m rpu",
        description="RPU: an LSTM processing-in-memory accelerator generator")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(commands)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit code.
    argparse errors exit with 2 (SystemExit)."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args) or 0
    except (ConfigError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        # Values rejected while compiling the LSTM (e.g. shapes, NaN) are input errors too.
        print(f"error: {error}", file=sys.stderr)
        return 2
