"""``python -m rpu``: the command line, one module per command (generate, simulate, synth,
run, explore), :mod:`rpu.cli.options` for what they share and :mod:`rpu.cli.main` for the
parser and the dispatch. The only place that wires the layers together; nothing outside
:mod:`rpu.cli` imports it (but ``rpu.__main__``)."""

from rpu.cli.main import main


__all__ = ["main"]
