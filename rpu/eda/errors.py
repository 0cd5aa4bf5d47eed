"""The errors of the synthesis flow: :class:`SynthesisError` (a tool or file failure,
shared by the Liberty reader, the timing estimate and the Yosys driver) and
:class:`SynthInputError` (bad input to :func:`rpu.eda.report.synthesize_rpu`)."""


__all__ = ["SynthesisError", "SynthInputError"]


class SynthesisError(ValueError):
    """Synthesis could not run: a missing or malformed input file, or a Yosys failure."""


class SynthInputError(ValueError):
    """Bad input to :func:`rpu.eda.report.synthesize_rpu`: an unknown or missing library, a
    missing or malformed Liberty file, or an output path that cannot be a directory. The
    message names the option (``--library``, ``--liberty``)."""
