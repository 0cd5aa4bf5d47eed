"""The RPU on an FPGA: the host link (:mod:`rpu.fpga.uart`, :mod:`rpu.fpga.protocol`,
:mod:`rpu.fpga.link`), board tops and the bitstream flow."""
