"""Documented area and read access-time models of SRAM macros at 45 nm, scaled to the
library's node.

The RPU's memories (weight banks, state memories) are priced as SRAM macros, as an ASIC
flow would instantiate them from a memory compiler; they are never synthesized into
flip-flops (:func:`rpu.eda.yosys.synthesize` takes them out of the logic netlist and lists
them). This module turns each memory's geometry into an area estimate and a read access
time (below).

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
Library's NAND2_X1 (FreePDK45), the same reference as :mod:`rpu.eda.cell_library`.

**Other nodes** (``node_nm``, default ``REFERENCE_NODE_NM = 45``): the constants above are
45 nm figures; a macro at another node (the node of the library synthesis maps to,
:mod:`rpu.eda.libraries`: 180 nm for ``osu018``) has the whole area above times
``(node_nm / 45) ** 2``. That is ideal constant-field scaling: every length of a layout
scales with the feature size, so every area with its square (R. H. Dennard et al., "Design
of ion-implanted MOSFET's with very small physical dimensions", IEEE JSSC 9(5), 1974;
Weste and Harris, *CMOS VLSI Design*, 4th ed., sec. 7.1 on scaling). **Assumption**: real
bit cells have not shrunk exactly by the square from node to node (Intel's 6T cells: 1.0
um2 at 90 nm, 0.57 um2 at 65 nm, 0.346 um2 at 45 nm), so the scaled area is an estimate of
the same standing as the 45 nm one. At 180 nm the 6T cell is 16 x 0.346 = 5.54 um2.

The model has no wiring, power rings or placement halo; the numbers are an estimate for
comparing RPU configurations, labelled modelled wherever they are reported.

Read access time
----------------
:func:`sram_access_time_ns` models the time from the clock edge to valid read data of a
macro (what the static timing estimate, :mod:`rpu.eda.timing`, starts a path from a
macro's read data with). It interpolates a table of **CACTI 7** results at 45 nm
(:data:`CACTI_45NM_ACCESS_NS`). CACTI is the HP Labs cache and memory model (N.
Muralimanohar, R. Balasubramonian, N. P. Jouppi, "CACTI 6.0: a tool to model large
caches", HP Labs HPL-2009-85, 2009; R. Balasubramonian, A. B. Kahng, N. Muralimanohar,
A. Shafiee, V. Srinivas, "CACTI 7: new tools for interconnect exploration in innovative
off-chip memories", ACM TACO 14(2), 2017). It was run on its own 45 nm technology (ITRS
high-performance cells and periphery) as a scratch RAM (``cache type "ram"``, one bank,
direct mapped, 16-bit words, 300 K, "normal" access mode, design objective area with at
most 60 % delay deviation) for capacities of 64 B to 512 KB (the largest RPU lane memory,
of the L configuration, is 256 KB), once with one read/write port (1RW,
:data:`CACTI_45NM_ACCESS_NS` ``["1RW"]``) and once with one read and one write port
(1R1W, ``["1R1W"]``). The access time is CACTI's "Access time (ns)": decoder, word line,
bit line, sense amplifier and the H-tree to the output. The table was produced with the
CACTI 7 sources shipped in the PyPI package ``hwcomponents-cacti`` 1.0.40 (built with its
makefile), with these lines of the configuration file (the others, DRAM and NUCA
settings, do not apply to a RAM)::

    -size (bytes) <capacity>       -block size (bytes) 2       -associativity 1
    -read-write port 1 (1RW) or -exclusive read port 1 -exclusive write port 1 (1R1W)
    -technology (u) 0.045          -cache type "ram"           -UCA bank count 1
    -Data array cell type - "itrs-hp"     -Data array peripheral type - "itrs-hp"
    -operating temperature (K) 300        -access mode (normal, sequential, fast) - "normal"
    -design objective (weight delay, dynamic power, leakage power, cycle time, area)
        0:0:0:0:100
    -deviate (delay, dynamic power, leakage power, cycle time, area)
        60:100000:100000:100000:1000000
    -Optimize ED or ED^2 (ED, ED^2, NONE): "NONE"
    -output/input bus width 16
    -Wire signaling (fullswing, lowswing, default) - "default"
    -Wire inside mat - "semi-global"      -Wire outside mat - "semi-global"
    -Interconnect projection - "conservative"

How the model uses the table (**model**, not a memory compiler's datasheet):

* **capacity**: the access time depends on the capacity ``words * width`` in bits;
  between two table points it is interpolated linearly in ``log2(bits)``. Below the
  smallest point (64 B) it is the smallest point's value (a smaller array is not slower;
  the fixed decoder, sense and output delays remain); above the largest (512 KB) it grows
  with ``sqrt(bits)`` from the largest point (the array's side, hence its word- and
  bit-line and H-tree wire lengths, grows with the square root of its capacity, and a
  repeated wire's delay is linear in its length). **Assumption** beyond the table.
* **word width**: not a parameter. CACTI's access time changes by at most 6 % between
  16, 32 and 64-bit words at every capacity from 256 B to 256 KB (1RW), because a word's
  bits are read in parallel.
* **ports**: a single-port macro (1RW) and a read-only memory (1R) take the 1RW column; a
  macro with separate read and write ports (1R1W) the 1R1W column; a macro with more ports
  the 1R1W column too (**assumption**: the extra ports' bit lines make it no faster).
* **other nodes**: times ``node_nm / 45`` (:func:`node_delay_scale`): ideal constant-field
  scaling, under which every gate delay scales with the feature size (Dennard et al.
  1974, above; Weste and Harris, *CMOS VLSI Design*, 4th ed., sec. 7.1, gate delay
  ``1/S``). **Assumption**: wire delay has not scaled so well, so a 180 nm figure is an
  estimate of the same standing as the 45 nm one. At 180 nm the access times are 4x.

CACTI's figures at small capacities are optimistic next to compiled macros (which add
input latches, self-timing margins and output drivers); the estimate is for comparing
designs, labelled modelled wherever it is reported.
"""

import math
from dataclasses import dataclass, field

from lstm_ref.checks import check_integer
from rpu.eda.cell_library import NAND2_UM2_45NM


__all__ = [
    "BITCELL_6T_UM2", "TWO_PORT_FACTOR", "PERIPHERY_OVERHEAD", "MACRO_OVERHEAD_UM2",
    "UM2_PER_GE", "REFERENCE_NODE_NM", "SRAMMacro", "SRAMAreaReport",
    "node_area_scale", "bitcell_area_um2", "sram_area_um2", "sram_area_ge", "um2_to_ge",
    "ge_to_um2", "price_memories", "CACTI_45NM_ACCESS_NS", "node_delay_scale",
    "access_time_ports", "sram_access_time_ns",
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
#: The technology node of the constants above, nm.
REFERENCE_NODE_NM = 45


def node_area_scale(node_nm):
    """Area of a layout at ``node_nm`` relative to the same layout at 45 nm.

    Parameters
    ----------
    node_nm : int
        Technology node (feature size), nm (>= 1).

    Returns
    -------
    float
        ``(node_nm / REFERENCE_NODE_NM) ** 2`` (ideal scaling, Dennard et al. 1974): 1 at
        45 nm, 16 at 180 nm.
    """
    check_integer("node_nm", node_nm, 1)
    return (node_nm / REFERENCE_NODE_NM) ** 2


#: Read access time of a 45 nm SRAM, ns, by port configuration: ``(capacity in bits,
#: access time)`` points computed with CACTI 7 (see the module docstring).
CACTI_45NM_ACCESS_NS = {
    "1RW": ((512, 0.141), (1024, 0.163), (2048, 0.174), (4096, 0.195), (8192, 0.212),
            (16384, 0.265), (32768, 0.350), (65536, 0.354), (131072, 0.376),
            (262144, 0.414), (524288, 0.517), (1048576, 0.981), (2097152, 1.331),
            (4194304, 1.502)),
    "1R1W": ((512, 0.150), (1024, 0.163), (2048, 0.184), (4096, 0.203), (8192, 0.230),
             (16384, 0.295), (32768, 0.307), (65536, 0.330), (131072, 0.442),
             (262144, 0.501), (524288, 0.967), (1048576, 1.246), (2097152, 1.464),
             (4194304, 1.810)),
}


def node_delay_scale(node_nm):
    """Delay of a circuit at ``node_nm`` relative to the same circuit at 45 nm.

    Parameters
    ----------
    node_nm : int
        Technology node (feature size), nm (>= 1).

    Returns
    -------
    float
        ``node_nm / REFERENCE_NODE_NM`` (ideal constant-field scaling, Dennard et al.
        1974): 1 at 45 nm, 4 at 180 nm.
    """
    check_integer("node_nm", node_nm, 1)
    return node_nm / REFERENCE_NODE_NM


def _check_ports(read_ports, write_ports, single_port):
    check_integer("read_ports", read_ports, 0)
    check_integer("write_ports", write_ports, 0)
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


def bitcell_area_um2(*, read_ports=1, write_ports=1, single_port=False,
                     node_nm=REFERENCE_NODE_NM):
    """Area of one bit cell for a port configuration, in um2.

    Parameters
    ----------
    read_ports, write_ports : int
        Ports of the memory (``read_ports >= 1``).
    single_port : bool
        The read and the write port share one address port (a 1RW macro).
    node_nm : int
        Technology node, nm (default 45).

    Returns
    -------
    float
        At 45 nm: ``BITCELL_6T_UM2`` for one port (1RW, or a read-only memory),
        ``BITCELL_6T_UM2 * TWO_PORT_FACTOR`` for 1R1W, and
        ``BITCELL_6T_UM2 * ((n + 1) / 2) ** 2`` for ``n`` ports otherwise; times
        :func:`node_area_scale` at another node.
    """
    _check_ports(read_ports, write_ports, single_port)
    scale = node_area_scale(node_nm)
    n = read_ports + write_ports
    if single_port or n == 1:
        return BITCELL_6T_UM2 * scale
    if (read_ports, write_ports) == (1, 1):
        return BITCELL_6T_UM2 * TWO_PORT_FACTOR * scale
    return BITCELL_6T_UM2 * ((n + 1) / 2) ** 2 * scale


def access_time_ports(*, read_ports=1, write_ports=1, single_port=False):
    """The column of :data:`CACTI_45NM_ACCESS_NS` a port configuration takes.

    Returns
    -------
    str
        ``"1RW"`` for a single-port macro or a memory with one port (a ROM), ``"1R1W"``
        otherwise.
    """
    _check_ports(read_ports, write_ports, single_port)
    return "1RW" if single_port or read_ports + write_ports == 1 else "1R1W"


def sram_access_time_ns(words, width, *, read_ports=1, write_ports=1, single_port=False,
                        node_nm=REFERENCE_NODE_NM):
    """Modelled read access time of one SRAM macro (clock edge to read data), ns.

    Parameters
    ----------
    words : int
        Number of words (>= 1).
    width : int
        Bits per word (>= 1).
    read_ports, write_ports : int
        Number of read and write ports (default 1R1W).
    single_port : bool
        The read and write port share one address (a 1RW single-port macro).
    node_nm : int
        Technology node, nm (default 45).

    Returns
    -------
    float
        The CACTI 7 table :data:`CACTI_45NM_ACCESS_NS` of the port configuration
        (:func:`access_time_ports`) at ``bits = words * width``: interpolated linearly in
        ``log2(bits)`` between points, the first point's value below the table, and
        ``sqrt(bits)`` scaling from the last point above it; times
        :func:`node_delay_scale`.

    Raises
    ------
    ValueError
        On a non-positive size or an impossible port configuration.
    """
    check_integer("words", words, 1)
    check_integer("width", width, 1)
    table = CACTI_45NM_ACCESS_NS[access_time_ports(read_ports=read_ports,
                                                   write_ports=write_ports,
                                                   single_port=single_port)]
    bits = words * width
    (b_first, t_first), (b_last, t_last) = table[0], table[-1]
    if bits <= b_first:
        t = t_first
    elif bits >= b_last:
        t = t_last * math.sqrt(bits / b_last)
    else:
        k = next(i for i, (b, _) in enumerate(table) if b >= bits)
        (b0, t0), (b1, t1) = table[k - 1], table[k]
        t = t0 + (t1 - t0) * math.log2(bits / b0) / math.log2(b1 / b0)
    return t * node_delay_scale(node_nm)


def sram_area_um2(words, width, *, read_ports=1, write_ports=1, single_port=False,
                  node_nm=REFERENCE_NODE_NM):
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
    node_nm : int
        Technology node, nm (default 45).

    Returns
    -------
    float
        ``words * width * bitcell_area_um2(...) * (1 + PERIPHERY_OVERHEAD)
        + MACRO_OVERHEAD_UM2`` at 45 nm; times :func:`node_area_scale` at another node.

    Raises
    ------
    ValueError
        On a non-positive size or an impossible port configuration.
    """
    check_integer("words", words, 1)
    check_integer("width", width, 1)
    cell = bitcell_area_um2(read_ports=read_ports, write_ports=write_ports,
                            single_port=single_port)
    return (words * width * cell * (1 + PERIPHERY_OVERHEAD) + MACRO_OVERHEAD_UM2) \
        * node_area_scale(node_nm)


def um2_to_ge(area_um2):
    """Convert um2 to gate equivalents (``area_um2 / UM2_PER_GE``)."""
    return area_um2 / UM2_PER_GE


def ge_to_um2(area_ge):
    """Convert gate equivalents to um2 (``area_ge * UM2_PER_GE``)."""
    return area_ge * UM2_PER_GE


def sram_area_ge(words, width, *, read_ports=1, write_ports=1, single_port=False,
                 node_nm=REFERENCE_NODE_NM):
    """:func:`sram_area_um2` in gate equivalents (45 nm GE, :data:`UM2_PER_GE`)."""
    return um2_to_ge(sram_area_um2(words, width, read_ports=read_ports,
                                   write_ports=write_ports, single_port=single_port,
                                   node_nm=node_nm))


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
    node_nm : int
        Technology node the macro is priced at, nm (default 45).
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
    node_nm: int = REFERENCE_NODE_NM

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        check_integer("words", self.words, 1)
        check_integer("width", self.width, 1)
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
        check_integer("node_nm", self.node_nm, 1)

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
                             write_ports=self.write_ports, single_port=self.single_port,
                             node_nm=self.node_nm)

    @property
    def access_time_ns(self):
        """Modelled read access time in ns (:func:`sram_access_time_ns`)."""
        return sram_access_time_ns(self.words, self.width, read_ports=self.read_ports,
                                   write_ports=self.write_ports,
                                   single_port=self.single_port, node_nm=self.node_nm)

    def to_dict(self):
        """A JSON-able dict of the record, its modelled area and access time."""
        return {
            "name": self.name, "path": self.path, "module": self.module,
            "words": self.words, "width": self.width, "bits": self.bits,
            "read_ports": self.read_ports, "write_ports": self.write_ports,
            "ports": self.ports, "sync_read": self.sync_read,
            "single_port": self.single_port, "source": self.source,
            "node_nm": self.node_nm, "area_um2_modelled": self.area_um2,
            "area_ge_modelled": um2_to_ge(self.area_um2),
            "access_time_ns_modelled": self.access_time_ns,
        }


@dataclass(frozen=True, kw_only=True)
class SRAMAreaReport:
    """Modelled area of a list of SRAM macros.

    Parameters
    ----------
    macros : tuple of SRAMMacro
        The memories priced, all at one technology node.
    """

    macros: tuple = field(default=())

    def __post_init__(self):
        macros = tuple(self.macros)
        for m in macros:
            if not isinstance(m, SRAMMacro):
                raise ValueError(f"macros must be SRAMMacro records, not {m!r}")
        nodes = sorted({m.node_nm for m in macros})
        if len(nodes) > 1:
            raise ValueError(f"the macros of one report must be at one node, not at "
                             f"{', '.join(map(str, nodes))} nm")
        object.__setattr__(self, "macros", macros)

    @property
    def node_nm(self):
        """The macros' technology node, nm (45 without macros)."""
        return self.macros[0].node_nm if self.macros else REFERENCE_NODE_NM

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
            "reference_node_nm": REFERENCE_NODE_NM, "node_nm": self.node_nm,
            "node_area_scale": node_area_scale(self.node_nm),
            "access_time_model": "CACTI 7 at 45 nm (1RW and 1R1W tables), interpolated in "
                                 "log2(bits), times node_nm / 45",
            "node_delay_scale": node_delay_scale(self.node_nm),
        }

    def to_dict(self):
        """A JSON-able dict; every area is labelled modelled."""
        return {
            "model": f"SRAM density model at {self.node_nm} nm (modelled, rpu.eda.sram_model)",
            "constants": self.model_constants(),
            "macros": [m.to_dict() for m in self.macros],
            "total_bits": self.total_bits,
            "total_area_um2_modelled": self.total_area_um2,
            "total_area_ge_modelled": self.total_area_ge,
        }

    def to_markdown(self):
        """A Markdown table of the macros and the total."""
        lines = ["| memory | words x width | ports | area (um2, modelled) "
                 "| access (ns, modelled) |",
                 "|---|---|---|---|---|"]
        for m in self.macros:
            lines.append(f"| `{m.path}` | {m.words} x {m.width} | {m.ports} | "
                         f"{m.area_um2:,.0f} | {m.access_time_ns:.3f} |")
        lines.append(f"| **total** ({len(self.macros)} macros, {self.total_bits:,} bits) "
                     f"| | | **{self.total_area_um2:,.0f}** | |")
        return "\n".join(lines) + "\n"


def price_memories(memories):
    """Price the memories of a design as SRAM macros.

    Parameters
    ----------
    memories : iterable of SRAMMacro
        E.g. ``SynthesisReport.memories`` from :func:`rpu.eda.yosys.synthesize`.

    Returns
    -------
    SRAMAreaReport
    """
    return SRAMAreaReport(macros=tuple(memories))
