"""Errors of the design-space exploration."""


__all__ = ["ExploreInputError", "ExplorePointError"]


class ExploreInputError(ValueError):
    """Bad input (model, inputs, sweep values, options); the message names the option."""


class ExplorePointError(RuntimeError):
    """A point failed (synthesis error or timeout); nothing is written."""
