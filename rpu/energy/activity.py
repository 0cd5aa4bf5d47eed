"""From the RPU's activity counters to the energy model's actions, in one place.

The RTL counts what it does during a run (:data:`rpu.hw.top.ACTIVITY_COUNTERS`, read by
:func:`rpu.sim.session.simulate_program` into ``RunResult.activity``; the expansion model
predicts the same numbers with ``Schedule.activity(steps)``). :func:`action_counts` turns
them into counts of the actions of :mod:`rpu.energy`, and :func:`energy_from_activity`
prices them. Every figure that comes out is **modelled**.

The mapping
-----------
With ``L = mac_lanes``, ``U = units_per_group = L / 4``, ``A = activation_units``,
``E = elementwise_units``, ``W = data_width`` and the counters of one run:

With a batch of ``B`` sequences the counters count the events of one sequence (they run in
lockstep); every action below but ``weight_read`` is multiplied by ``B``: a weight read feeds
the ``B`` sequences' MACs.

``mac``, ``weight_read``
    ``mac``: ``columns * L``. Every issued column is one multiply-accumulate in every MAC
    lane, padding lanes included (a lane computes whether or not its row is real).
    ``weight_read``: ``columns * L / P`` (``P = weights_per_word``): every issued column
    reads one word of ``P`` weights in every lane's memory.
    Over a step this is ``sum over layers of groups * (1 + I + H) * L``, which contains the
    ``4H(I+H)`` useful MACs of the expansion model (docs/architecture.md) (the bias column and padding are the
    rest).
``state_read``
    ``x_reads + h_reads + E * cell_reads``: 16-bit words read from the x and h memories,
    and cell values read from the cell-state memory (each counted cell word holds ``E``
    values).
``state_write``
    ``x_writes + h_writes + E * cell_writes``, likewise.
``activation``
    ``activation_cycles * A``: every activation unit takes an operand in every counted
    cycle (sigmoid or tanh, ``5U`` per row group: ``4U`` gates, ``U`` tanh(c)).
``elementwise``
    ``elementwise_cycles * E``: ``U`` cell updates ``f*c + i*g`` and ``U`` hidden updates
    ``o*tanh(c)`` per row group.
``interconnect_transfer``
    Data words (``W`` bits) moved between components through the broadcast bus and the
    reconfigurable interconnect (:mod:`rpu.hw.interconnect`):

    * the broadcast operand, 1 word per issued column (one bus reaching every lane);
    * the lanes' dot products into the cell engine, ``4U`` words per row group
      (``groups = E * cell_reads / U``: a row group reads ``U / E`` cell words);
    * per activation: its operand and its result (2 words);
    * per cell update: four operands (f, c_prev, i, g) and the result (5 words);
      ``cell updates = E * cell_writes`` (every cell update is written back);
    * per hidden update: two operands (o, tanh c) and the result (3 words);
      ``hidden updates = E * elementwise_cycles - cell updates``.

    Not counted: the x and h stream ports (chip I/O) and the writes of h into the h memory
    (already ``state_write``).
``register_update``
    Flip-flop bits written, in units of 16 bits (the energy table prices 16 flip-flops):
    ``ceil(bits / 16)`` with ``bits`` the sum of

    * per MAC: the lane's product register (``data_width + weight_width`` bits; only with
      :attr:`~rpu.config.RPUConfig.registered_products`) and its accumulator
      (``acc_width`` bits) (:class:`pim.PIMLane`);
    * per column: the registered broadcast operand (``W`` bits, :class:`rpu.hw.top.RPU`);
      without registered products also, in each array, the operand again and the weight
      address (:class:`pim.PIMArray`);
    * per activation: the unit's pipeline stages, taken as ``3W`` bits (stage 1 holds
      the fraction, sign and function, under ``W`` bits; stage 2 the registered ROM word,
      about ``W`` bits; the last stage the result);
    * per element-wise operation: the two product registers (``2W`` bits each, the
      ``a*b`` one a few bits more, not counted) and the result, ``5W`` bits;
    * per row group: the shift-register buffers of the cell engine
      (:func:`engine_buffer_words` words of ``W`` bits), following
      :mod:`rpu.hw.cell_engine` context by context.

    Not counted: control registers (counters, context sequencing, pipeline flags and
    tags), as the energy model leaves control out.

``state_read``, ``state_write`` with ``delta`` (:mod:`rpu.hw.delta`)
    Also: each x word taken and each h written reads its reference in a delta unit, and is
    taken as writing both its reference and a list entry (an upper bound: only the values
    that changed enough write); the list entries issued are the ``x_reads`` and
    ``h_reads``; every MAC lane reads and writes its row's pre-activation word once per row
    group (``ceil(acc_width / 16)`` 16-bit words each way). Counted for every program of a
    delta RPU, dense ones too (whose delta units are idle): an upper bound again.

What is counted is what the RTL's counters count: weight reads and MACs of *issued*
columns. The lanes' memories and registers are also enabled in cycles without an issued
column (step gaps; none in the S, M and L schedules), which the model does not price.

Energies
--------
The per-action energies are those of :func:`rpu.energy.model.action_energy_table` (45 nm,
cited there) at the widths the configuration builds: ``data_width``, ``weight_width`` and
``acc_width`` (a MAC is a ``data_width x weight_width`` multiply and an ``acc_width``
add, a weight read reads a word of ``weights_per_word * weight_width`` bits, and so on); at
the default widths (16, 16 and 40 bits, one weight per word) that is
:data:`rpu.energy.model.ACTION_ENERGY_PJ`. With ``memory_scaled=True`` (the default)
``weight_read`` is moreover priced for the actual lane weight memory,
``sram_access_energy_pj(weight_depth * weight_word_bits / 8, weight_word_bits)``, instead
of the table's 4096 words: a lane's memory is 3 KB for S (1.5 pJ
per read) and 256 KB for L (14 pJ per read). State memories keep the table's 1024 words
(the largest of them is 2048 words, the L h memory).
"""

import math

from lstm_ref.checks import is_integer
from amaranth.hdl import Shape

from pim.lane import issue_ports
from rpu.config import RPUConfig
from rpu.hw.top import ACTIVITY_COUNTERS
from rpu.energy.model import action_energy_table, energy_report


__all__ = ["action_counts", "engine_buffer_words", "action_energies", "energy_from_activity",
           "ACTIVITY_NAMES", "REGISTER_WORD_BITS"]


#: The activity counters (of :data:`rpu.hw.top.ACTIVITY_COUNTERS`) the mapping reads: all but
#: ``outputs``.
ACTIVITY_NAMES = tuple(name for name in ACTIVITY_COUNTERS if name != "outputs")

#: Bits of one ``register_update`` (the energy table's entry is 16 flip-flop updates).
REGISTER_WORD_BITS = 16


def engine_buffer_words(config):
    """Buffer words (``data_width`` bits each) the cell engine writes per row group.

    The buffers of :mod:`rpu.hw.cell_engine` are shift registers; a shift writes every word
    that receives a new value. Per row group, with ``U``, ``A``, ``E`` as above:

    * LOAD: the ``4U`` pre-activations;
    * GATES, ``4U/A`` cycles: the pre-activation buffer shifts by ``A`` (``4U - A`` words)
      and the gate buffer takes ``A`` results (all ``4U`` words shift);
    * CELL, ``U/E`` cycles: the i, f, g segments shift by ``E`` (``3(U - E)`` words) and
      the cell buffer takes ``E`` results (``U`` words);
    * TANH_C, ``U/A`` cycles: the cell buffer rotates (``U`` words) and the tanh buffer
      takes ``A`` results (``U`` words);
    * HIDDEN, ``U/E`` cycles: the o and tanh segments shift by ``E`` (``2(U - E)``) and
      the hidden buffer takes ``E`` results (``U`` words);
    * EMIT, ``U`` cycles: the hidden buffer shifts by one (``U - 1``) and the cell buffer
      rotates (``U``).

    Returns
    -------
    int
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    U, A, E = config.units_per_group, config.activation_units, config.elementwise_units
    load = 4 * U
    gates = (4 * U // A) * ((4 * U - A) + 4 * U)
    cell = (U // E) * (3 * (U - E) + U)
    tanh_c = (U // A) * (U + U)
    hidden = (U // E) * (2 * (U - E) + U)
    emit = U * ((U - 1) + U)
    return load + gates + cell + tanh_c + hidden + emit


def _check_activity(activity):
    if not hasattr(activity, "keys"):
        raise ValueError(f"activity must be a mapping of counter names to counts, not "
                         f"{activity!r}")
    missing = [name for name in ACTIVITY_NAMES if name not in activity]
    if missing:
        raise ValueError(f"activity lacks the counter(s) {', '.join(missing)}")
    values = {name: activity[name] for name in ACTIVITY_NAMES}
    for name, value in values.items():
        if not is_integer(value) or value < 0:
            raise ValueError(f"activity counter {name!r} must be a non-negative integer, "
                             f"not {value!r}")
    return values


def _address_bits(config):
    """Bits of the weight and scale addresses an array registers, from the issue ports'
    shapes (:func:`pim.lane.issue_ports`)."""
    ports = issue_ports(depth=config.weight_depth, operand_width=config.operand_width,
                        scale_depth=config.scale_depth, batch=config.batch,
                        state_depth=config.state_depth)
    return sum(Shape.cast(ports[name].shape).width for name in ("addr", "scale_addr",
                                                                 "state_addr")
               if name in ports)


def action_counts(config, activity):
    """Counts of the energy model's actions implied by a run's activity counters.

    Parameters
    ----------
    config : RPUConfig
    activity : mapping of str to int
        ``RunResult.activity`` of a simulation, or ``Schedule.activity(steps)``.

    Returns
    -------
    dict of str to int
        One count per action of :data:`rpu.energy.model.ACTIONS` (see the module docstring).

    Raises
    ------
    ValueError
        If a counter is missing or negative, or the counters are inconsistent with the
        configuration (cell words that are not whole row groups, more cell updates than
        element-wise operations).
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    a = _check_activity(activity)
    L, U = config.mac_lanes, config.units_per_group
    A, E = config.activation_units, config.elementwise_units
    W, B = config.data_width, config.batch
    if (E * a["cell_reads"]) % U:
        raise ValueError(f"cell_reads = {a['cell_reads']} is not a whole number of row "
                         f"groups of {U // E} cell words")
    groups = E * a["cell_reads"] // U
    activations = a["activation_cycles"] * A
    elementwise = a["elementwise_cycles"] * E
    cell_updates = E * a["cell_writes"]
    hidden_updates = elementwise - cell_updates
    if hidden_updates < 0:
        raise ValueError(f"cell_writes = {a['cell_writes']} words of {E} values exceed the "
                         f"{elementwise} element-wise operations")
    macs = a["columns"] * L
    interconnect = (a["columns"] + 4 * U * groups + 2 * activations
                    + 5 * cell_updates + 3 * hidden_updates)
    product_bits = config.data_width + config.weight_width if config.registered_products else 0
    # The arrays' issue registers (lanes without registered products): the operand of each
    # sequence, and the address once for the batch.
    array_operand_bits = 0 if config.registered_products else config.pim_arrays * W
    address_bits = 0 if config.registered_products else config.pim_arrays * _address_bits(config)
    register_bits = (macs * (product_bits + config.acc_width)
                     + a["columns"] * (W + array_operand_bits)
                     + activations * 3 * W
                     + elementwise * 5 * W
                     + groups * engine_buffer_words(config) * W)
    state_reads = a["x_reads"] + a["h_reads"] + E * a["cell_reads"]
    state_writes = a["x_writes"] + a["h_writes"] + E * a["cell_writes"]
    if config.delta:
        # The delta units read the reference of every x taken and h written, and write it
        # and a list entry (counted for every value: an upper bound); every lane reads and
        # writes its row's pre-activation word once per row group (acc_width bits, in
        # 16-bit words).
        lane_words = config.mac_lanes * math.ceil(config.acc_width / REGISTER_WORD_BITS)
        state_reads += a["x_writes"] + a["h_writes"] + groups * lane_words
        state_writes += 2 * (a["x_writes"] + a["h_writes"]) + groups * lane_words
    # Every action but the weight read happens once per sequence of the batch (the counters
    # count the events of one sequence: the sequences run in lockstep).
    return {
        "mac": B * macs,
        "weight_read": a["columns"] * config.lanes,
        "state_read": B * state_reads,
        "state_write": B * state_writes,
        "activation": B * activations,
        "elementwise": B * elementwise,
        "interconnect_transfer": B * interconnect,
        "register_update": math.ceil((B * register_bits + a["columns"] * address_bits)
                                     / REGISTER_WORD_BITS),
    }


def action_energies(config, *, memory_scaled=True):
    """Per-action energies (pJ) used for ``config``.

    :func:`rpu.energy.model.action_energy_table` at the configuration's ``data_width``,
    ``weight_width`` and ``acc_width``, a weight read being a word of ``weight_word_bits``;
    with ``memory_scaled`` the weight read is priced for the configuration's lane weight
    memory (``weight_depth * weight_word_bits / 8`` bytes), otherwise for the table's 4096
    words.
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    memory = config.weight_depth * config.weight_word_bits / 8 if memory_scaled else None
    return action_energy_table(data_width=config.data_width,
                               weight_width=config.weight_width,
                               acc_width=config.acc_width, weight_memory_bytes=memory,
                               weight_word_bits=config.weight_word_bits)


def energy_from_activity(config, activity, steps, ops_per_step, seconds_per_step=None, *,
                         memory_scaled=True, energies=None):
    """Modelled energy of a run from its activity counters.

    Parameters
    ----------
    config : RPUConfig
    activity : mapping of str to int
        The run's activity counters (simulated, or ``Schedule.activity(steps)``).
    steps : int
        LSTM steps of the run.
    ops_per_step : int
        Operations per step (``Schedule.ops_per_step()``).
    seconds_per_step : float, optional
        Time per step, for power and throughput.
    memory_scaled : bool
        Price weight reads for the actual lane memory size (see :func:`action_energies`).
    energies : mapping of str to float, optional
        Further per-action energies (pJ) that replace the table's.

    Returns
    -------
    rpu.energy.model.EnergyReport
        Labelled modelled in its dict and Markdown forms.
    """
    # energy_report checks the names of the entries that replace the table's.
    table = {**action_energies(config, memory_scaled=memory_scaled), **(energies or {})}
    return energy_report(action_counts(config, activity), steps=steps,
                         ops_per_step=ops_per_step, seconds_per_step=seconds_per_step,
                         energies=table)
