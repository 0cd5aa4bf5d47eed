"""A documented density model of SRAM macros at 45 nm.

The RPU's memories (weight banks, state memories) are priced as SRAM macros, as an ASIC
flow would instantiate them from a memory compiler; they are never synthesized into
flip-flops (``rpu.synthesis`` takes them out of the logic netlist and lists them). This
module turns each memory's geometry into an area estimate.

The model
---------
::

    area_um2 = words * width * bitcell_um2(ports) * (1 + PERIPHERY_OVERHEAD)
               + MACRO_OVERHEAD_UM2

**Bit cell** (``bitcell_um2``):

* one port (a single shared read/write port, ``single_port=True``, or a read-only
  memory): the 45 nm high-density 6T cell, ``BITCELL_6T_UM2 = 0.346 um2``: Intel's 45 nm
  high-k/metal-gate process (K. Mistry et al., "A 45nm logic technology with high-k +
  metal gate transistors, strained silicon, 9 Cu interconnect layers, 193nm dry
  patterning, and 100% Pb-free packaging", IEDM 2007; U. Bhattacharya et al., "45nm SRAM
  technology development and technology lead vehicle", Intel Technology Journal 12(2),
  2008). Other 45 nm bulk processes report the same size class, e.g. 0.37 um2 (K. Nii
  et al., Renesas, ISQED 2013).
* one read port and one write port (1R1W, a two-port memory, the default because an
  Amaranth memory with a read and a write port may use both in the same cycle): the 8T
  cell with a decoupled read stack, ``TWO_PORT_FACTOR = 1.3`` times the 6T cell (about
  30 % larger: L. Chang et al., IBM, "An 8T-SRAM for variability tolerance and
  low-voltage operation in high-performance caches", IEEE JSSC 43(4), 2008).
* ``n = read_ports + write_ports`` ports otherwise (register-file style cells): every
  port adds a word line and a bit line (pair), so the cell grows in both directions and
  its area grows about with the square of the port count (Weste and Harris, *CMOS VLSI
  Design*, 4th ed., sec. 12.2 on multiported SRAM). We use
  ``bitcell = BITCELL_6T_UM2 * ((n + 1) / 2) ** 2``: 2.25x for two full ports, 4x for
  three, 6.25x for four. **Assumption.**

**Periphery** (``PERIPHERY_OVERHEAD = 0.5``): row decoders, word-line drivers, column
multiplexers, sense amplifiers and write drivers add half the cell-array area again, an
array efficiency of 2/3. **Assumption**, in the range usually quoted for compiled SRAM
macros of a few to a few hundred kilobits.

**Fixed per-macro overhead** (``MACRO_OVERHEAD_UM2 = 1000 um2``, about 1250 GE): control
and timing block, address predecoders and I/O latches that every macro has whatever its
size. **Assumption**; it makes tiny macros expensive (a 128-bit macro costs about 1070
um2, its array 66 um2), as they are in practice, which is why tiny memories are better
left to flip-flops or latches.

**Gate equivalents**: ``UM2_PER_GE = 0.798 um2``, the area of the Nangate 45 nm Open Cell
Library's NAND2_X1 (FreePDK45), the same reference as :mod:`rpu.cell_library`.

The model has no wiring, power rings or placement halo; the numbers are an estimate for
comparing RPU configurations, labelled modelled wherever they are reported.
"""

from dataclasses import dataclass, field

from rpu.eda.cell_library import NAND2_UM2_45NM


__all__ = [
    "BITCELL_6T_UM2", "TWO_PORT_FACTOR", "PERIPHERY_OVERHEAD", "MACRO_OVERHEAD_UM2",
    "UM2_PER_GE", "SRAMMacro", "SRAMAreaReport",
    "bitcell_area_um2", "sram_area_um2", "sram_area_ge", "um2_to_ge", "ge_to_um2",
    "price_memories",
]


#: Area of a 45 nm 6T SRAM bit cell, um2 (Mistry et al., IEDM 2007).
BITCELL_6T_UM2 = 0.346
#: Bit cell of a 1R1W two-port (8T) memory relative to the 6T cell (Chang et al., JSSC 2008).
TWO_PORT_FACTOR = 1.3
#: Periphery area as a fraction of the bit-cell array area (assumption).
PERIPHERY_OVERHEAD = 0.5
#: Fixed area of every macro, um2 (assumption).
MACRO_OVERHEAD_UM2 = 1000.0
#: um2 per gate equivalent at 45 nm: the Nangate 45 nm NAND2_X1.
UM2_PER_GE = NAND2_UM2_45NM


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _check_ports(read_ports, write_ports, single_port):
    _check_int("read_ports", read_ports, 0)
    _check_int("write_ports", write_ports, 0)
    if read_ports + write_ports < 1:
        raise ValueError("a memory needs at least one port")
    if read_ports == 0:
        raise ValueError("a memory without a read port is never read; "
                         f"got read_ports=0, write_ports={write_ports}")
    if not isinstance(single_port, bool):
        raise ValueError(f"single_port must be a bool, not {single_port!r}")
    if single_port and (read_ports, write_ports) not in ((1, 1), (1, 0)):
        raise ValueError("single_port=True describes one shared read/write port: "
                         "read_ports=1 and write_ports at most 1, not "
                         f"read_ports={read_ports}, write_ports={write_ports}")


def bitcell_area_um2(*, read_ports=1, write_ports=1, single_port=False):
    """Area of one bit cell for a port configuration, in um2.

    Parameters
    ----------
    read_ports, write_ports : int
        Ports of the memory (``read_ports >= 1``).
    single_port : bool
        The read and the write port share one address port (a 1RW macro).

    Returns
    -------
    float
        ``BITCELL_6T_UM2`` for one port (1RW, or a read-only memory),
        ``BITCELL_6T_UM2 * TWO_PORT_FACTOR`` for 1R1W, and
        ``BITCELL_6T_UM2 * ((n + 1) / 2) ** 2`` for ``n`` ports otherwise.
    """
    _check_ports(read_ports, write_ports, single_port)
    n = read_ports + write_ports
    if single_port or n == 1:
        return BITCELL_6T_UM2
    if (read_ports, write_ports) == (1, 1):
        return BITCELL_6T_UM2 * TWO_PORT_FACTOR
    return BITCELL_6T_UM2 * ((n + 1) / 2) ** 2


def sram_area_um2(words, width, *, read_ports=1, write_ports=1, single_port=False):
    """Modelled area of one SRAM macro, in um2.

    Parameters
    ----------
    words : int
        Number of words (>= 1).
    width : int
        Bits per word (>= 1).
    read_ports, write_ports : int
        Number of read and write ports (default 1R1W, a two-port macro).
    single_port : bool
        The read and write port share one address (a 1RW single-port macro).

    Returns
    -------
    float
        ``words * width * bitcell_area_um2(...) * (1 + PERIPHERY_OVERHEAD)
        + MACRO_OVERHEAD_UM2``.

    Raises
    ------
    ValueError
        On a non-positive size or an impossible port configuration.
    """
    _check_int("words", words, 1)
    _check_int("width", width, 1)
    cell = bitcell_area_um2(read_ports=read_ports, write_ports=write_ports,
                            single_port=single_port)
    return words * width * cell * (1 + PERIPHERY_OVERHEAD) + MACRO_OVERHEAD_UM2


def um2_to_ge(area_um2):
    """Convert um2 to gate equivalents (``area_um2 / UM2_PER_GE``)."""
    return area_um2 / UM2_PER_GE


def ge_to_um2(area_ge):
    """Convert gate equivalents to um2 (``area_ge * UM2_PER_GE``)."""
    return area_ge * UM2_PER_GE


def sram_area_ge(words, width, *, read_ports=1, write_ports=1, single_port=False):
    """:func:`sram_area_um2` in gate equivalents."""
    return um2_to_ge(sram_area_um2(words, width, read_ports=read_ports,
                                   write_ports=write_ports, single_port=single_port))


@dataclass(frozen=True, kw_only=True)
class SRAMMacro:
    """One memory of a design, to be built as an SRAM macro.

    Parameters
    ----------
    name : str
        The memory's name (e.g. the Amaranth memory's name).
    words : int
        Number of words.
    width : int
        Bits per word.
    read_ports : int
        Number of read ports (>= 1).
    write_ports : int
        Number of write ports (0 for a read-only memory).
    path : str
        Hierarchical instance path in the design (``name`` if not given).
    module : str or None
        The module (of the synthesized netlist) that holds the memory.
    sync_read : bool
        Whether every read port is synchronous (registered), as an SRAM macro's is.
    single_port : bool
        Price it as a single shared read/write port (1RW) macro.
    source : str
        ``"inferred"`` (a memory of the RTL) or ``"blackbox"`` (an SRAM macro instance).
    """

    name: str
    words: int
    width: int
    read_ports: int = 1
    write_ports: int = 1
    path: str = None
    module: str = None
    sync_read: bool = True
    single_port: bool = False
    source: str = "inferred"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        _check_int("words", self.words, 1)
        _check_int("width", self.width, 1)
        _check_ports(self.read_ports, self.write_ports, self.single_port)
        if self.path is None:
            object.__setattr__(self, "path", self.name)
        if not isinstance(self.path, str):
            raise ValueError(f"path must be a string, not {self.path!r}")
        if self.module is not None and not isinstance(self.module, str):
            raise ValueError(f"module must be a string or None, not {self.module!r}")
        if not isinstance(self.sync_read, bool):
            raise ValueError(f"sync_read must be a bool, not {self.sync_read!r}")
        if self.source not in ("inferred", "blackbox"):
            raise ValueError(f"source must be 'inferred' or 'blackbox', not {self.source!r}")

    @property
    def bits(self):
        """Capacity in bits, ``words * width``."""
        return self.words * self.width

    @property
    def ports(self):
        """Port configuration as text, e.g. ``"1R1W"`` or ``"1RW"``."""
        if self.single_port:
            return "1RW"
        return f"{self.read_ports}R{self.write_ports}W" if self.write_ports else \
            f"{self.read_ports}R"

    @property
    def area_um2(self):
        """Modelled macro area in um2 (:func:`sram_area_um2`)."""
        return sram_area_um2(self.words, self.width, read_ports=self.read_ports,
                             write_ports=self.write_ports, single_port=self.single_port)

    def to_dict(self):
        """A JSON-able dict of the record and its modelled area."""
        return {
            "name": self.name, "path": self.path, "module": self.module,
            "words": self.words, "width": self.width, "bits": self.bits,
            "read_ports": self.read_ports, "write_ports": self.write_ports,
            "ports": self.ports, "sync_read": self.sync_read,
            "single_port": self.single_port, "source": self.source,
            "area_um2_modelled": self.area_um2,
            "area_ge_modelled": um2_to_ge(self.area_um2),
        }


@dataclass(frozen=True, kw_only=True)
class SRAMAreaReport:
    """Modelled area of a list of SRAM macros.

    Parameters
    ----------
    macros : tuple of SRAMMacro
        The memories priced.
    """

    macros: tuple = field(default=())

    def __post_init__(self):
        macros = tuple(self.macros)
        for m in macros:
            if not isinstance(m, SRAMMacro):
                raise ValueError(f"macros must be SRAMMacro records, not {m!r}")
        object.__setattr__(self, "macros", macros)

    @property
    def total_bits(self):
        """Sum of the macros' capacities in bits."""
        return sum(m.bits for m in self.macros)

    @property
    def total_area_um2(self):
        """Sum of the macros' modelled areas in um2."""
        return sum(m.area_um2 for m in self.macros)

    @property
    def total_area_ge(self):
        """:attr:`total_area_um2` in gate equivalents."""
        return um2_to_ge(self.total_area_um2)

    def model_constants(self):
        """The constants of the model, as a dict."""
        return {
            "bitcell_6t_um2": BITCELL_6T_UM2, "two_port_factor": TWO_PORT_FACTOR,
            "periphery_overhead": PERIPHERY_OVERHEAD,
            "macro_overhead_um2": MACRO_OVERHEAD_UM2, "um2_per_ge": UM2_PER_GE,
        }

    def to_dict(self):
        """A JSON-able dict; every area is labelled modelled."""
        return {
            "model": "SRAM density model at 45 nm (modelled, rpu.sram_model)",
            "constants": self.model_constants(),
            "macros": [m.to_dict() for m in self.macros],
            "total_bits": self.total_bits,
            "total_area_um2_modelled": self.total_area_um2,
            "total_area_ge_modelled": self.total_area_ge,
        }

    def to_markdown(self):
        """A Markdown table of the macros and the total."""
        lines = ["| memory | words x width | ports | area (um2, modelled) |",
                 "|---|---|---|---|"]
        for m in self.macros:
            lines.append(f"| `{m.path}` | {m.words} x {m.width} | {m.ports} | "
                         f"{m.area_um2:,.0f} |")
        lines.append(f"| **total** ({len(self.macros)} macros, {self.total_bits:,} bits) "
                     f"| | | **{self.total_area_um2:,.0f}** |")
        return "\n".join(lines) + "\n"


def price_memories(memories):
    """Price the memories of a design as SRAM macros.

    Parameters
    ----------
    memories : iterable of SRAMMacro
        E.g. ``SynthesisReport.memories`` from :func:`rpu.eda.synthesis.synthesize`.

    Returns
    -------
    SRAMAreaReport
    """
    return SRAMAreaReport(macros=tuple(memories))
