"""Simulation of an RPU: the Amaranth simulator session and the Verilator and Icarus back
ends, which share one stimulus format and give bit-identical results."""
