"""The host side of the FPGA link: :class:`Board` drives a board (real or simulated) running
the RPU behind its UART (:mod:`rpu.fpga.protocol`)."""

from rpu.host.board import Board, BoardError, BoardTimeout, Counters, run_on_board

__all__ = ["Board", "BoardError", "BoardTimeout", "Counters", "run_on_board"]
