"""A one-hot state machine: a flip-flop per state, built into a :class:`Module` like
Amaranth's ``m.FSM``.

Amaranth's FSM keeps its state encoded in a few bits: every state's decoding is a compare of
them, and every bit's next value depends on every transition of the machine. Yosys leaves it
so: its FSM passes do not take a state register with an initial value, and when told to
(``fsm_encoding``) they drop the initial value. Here each state is its own flip-flop, set by
the transitions into it and cleared by those out of it, so that a state's decoding is one
register and a state's next value depends only on the states that lead to it or leave it.
The flip-flops' initial values (the initial state's set) are those of every simulator and of
the FPGA's global reset.

    fsm = OneHotFSM(m, ["IDLE", "RUN"], init="IDLE", name="ctl")
    with fsm.state("IDLE"):
        with m.If(go):
            fsm.goto("RUN")
    with fsm.state("RUN"):
        ...

As with ``m.next``, the last :meth:`goto` that applies in a cycle decides the next state.
"""

from contextlib import contextmanager

from amaranth.hdl import Signal


__all__ = ["OneHotFSM"]


class OneHotFSM:
    """A one-hot state machine in module ``m`` (domain ``sync``).

    Parameters
    ----------
    m : Module
    states : sequence of str
        Every state's name (unique).
    init : str
        The initial state.
    name : str
        Prefix of the state flip-flops' names (``{name}_{state}``).
    """

    def __init__(self, m, states, *, init, name):
        states = list(states)
        if len(set(states)) != len(states) or not states:
            raise ValueError(f"states must be unique names, not {states!r}")
        if init not in states:
            raise ValueError(f"init must be one of the states, not {init!r}")
        self._m = m
        self._flags = {state: Signal(name=f"{name}_{state}", init=int(state == init))
                       for state in states}
        self._current = None
        self._targets = {}              # per state: the states its gotos so far have set
        self._defined = set()

    def ongoing(self, state):
        """The flip-flop of ``state``: 1 while the machine is in it."""
        return self._flag(state)

    def _flag(self, state):
        if state not in self._flags:
            raise ValueError(f"unknown state {state!r}")
        return self._flags[state]

    @contextmanager
    def state(self, state):
        """The logic of ``state`` (active while its flip-flop is set)."""
        if self._current is not None:
            raise RuntimeError(f"state {state!r} inside state {self._current!r}")
        if state in self._defined:
            raise ValueError(f"state {state!r} is defined twice")
        self._defined.add(state)
        with self._m.If(self._flag(state)):
            self._current = state
            try:
                yield
            finally:
                self._current = None

    def goto(self, target):
        """Go to ``target`` in the next cycle (within a :meth:`state` block): clear the
        current state's flop and the targets of this state's earlier gotos, set
        ``target``'s."""
        if self._current is None:
            raise RuntimeError(f"goto({target!r}) outside a state")
        self._flag(target)
        targets = self._targets.setdefault(self._current, set())
        targets.add(target)
        self._m.d.sync += [self._flags[state].eq(int(state == target))
                           for state in sorted(targets | {self._current})]

    def check(self):
        """Raise ValueError if a state has no logic (the machine would stop in it)."""
        missing = [state for state in self._flags if state not in self._defined]
        if missing:
            raise ValueError(f"states without logic: {', '.join(missing)}")
