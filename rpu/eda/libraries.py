"""The standard-cell libraries synthesis maps to, by name, with their technology nodes.

``python -m rpu synth --library NAME`` picks one of :data:`LIBRARIES`:

=========  ===========================================================  ======  =========
name       Liberty file                                                 node    areas in
=========  ===========================================================  ======  =========
generic    the project's own library (:mod:`rpu.eda.cell_library`),     45 nm   GE
           written into the output; the default
osu018     the Oklahoma State University 0.18 um standard cells,        180 nm  um2
           ``/usr/share/qflow/tech/osu018/osu018_stdcells.lib``, from
           the Debian package ``qflow-tech-osu018``
=========  ===========================================================  ======  =========

Each library has its synthesis flow (:class:`rpu.eda.yosys.SynthesisFlow`). ``osu018``
(:data:`OSU018_FLOW`) maps adders, subtractors and comparators as Kogge-Stone prefix
adders (Yosys's ``+/choices/kogge-stone.v``), sums and multiplier partial products as
carry-save trees (``arith_tree``), and runs ABC with SOP balancing for delay (``&sopb``)
before its mapping. Measured on S (I = 64, H = 128, default resources), estimated f_max
and logic area:

==========================================  ========  ==========  ============
flow                                         f_max     logic       Yosys CPU
==========================================  ========  ==========  ============
Yosys's default (Brent-Kung, ABC default)    192 MHz   7.27 mm2    63 s
``abc -D 4000`` (a delay target)             192 MHz   7.27 mm2    66 s
Kogge-Stone                                  212 MHz   7.68 mm2    --
Kogge-Stone, ``abc -D 4000``                 212 MHz   7.68 mm2    122 s
Kogge-Stone, arith_tree                      215 MHz   7.72 mm2    159 s
Kogge-Stone, ABC sop-balance                 245 MHz   8.55 mm2    154 s
Kogge-Stone, arith_tree, ABC sop-balance     265 MHz   8.37 mm2    186 s
==========================================  ========  ==========  ============

(15 % more logic area, 4 % more in all with the SRAM macros, for 38 % more clock.)
Yosys's default Brent-Kung carry lookahead comes out of ABC as deep as a ripple chain,
about 0.17 ns a bit on these cells, and ABC's mapper already maps for delay, so that a
delay target alone changes nothing. The generic library keeps Yosys's default flow, so
that its figures stay comparable with earlier reports and its synthesis stays three times
cheaper (on S, the delay flow takes it from 910 to 1,152 MHz for 12.5 % more logic area,
323,353 to 363,883 GE, and 183 s of Yosys CPU instead of 65 s); ``--flow delay`` of
``python -m rpu synth`` chooses it, ``--flow yosys`` Yosys's own, ``--adder`` the adder.

A Liberty file given by path (``--liberty PATH``,
:func:`liberty_library`) gets Yosys's default flow and is taken to be at 45 nm unless
told otherwise. The node sets the SRAM macro areas
(:func:`rpu.eda.sram_model.node_area_scale`); the logic areas are the library's own.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from lstm_ref.checks import check_integer
from rpu.eda.errors import SynthInputError
from rpu.eda.sram_model import REFERENCE_NODE_NM
from rpu.eda.yosys import DEFAULT_FLOW, SynthesisFlow


__all__ = ["Library", "LIBRARIES", "DEFAULT_LIBRARY", "OSU018_FLOW", "FLOWS", "library_names",
           "liberty_library", "resolve_library"]


@dataclass(frozen=True, kw_only=True)
class Library:
    """A standard-cell library to synthesize with.

    Parameters
    ----------
    name : str
        Its name (``"generic"``, ``"osu018"``; a Liberty file's name for a file given by
        path).
    liberty : pathlib.Path or None
        Its Liberty file; None for the generic library, which synthesis writes itself.
    node_nm : int
        Technology node, nm: the SRAM macros are priced at it.
    area_unit : {"GE", "um2"}
        Unit of the Liberty file's cell areas.
    description : str
        One line for messages and reports.
    package : str or None
        The Debian package that installs the Liberty file, if any.
    flow : rpu.eda.yosys.SynthesisFlow
        How logic is mapped onto it (default: Yosys's own flow).
    """

    name: str
    liberty: Path = None
    node_nm: int = REFERENCE_NODE_NM
    area_unit: str = "um2"
    description: str = ""
    package: str = None
    flow: SynthesisFlow = DEFAULT_FLOW

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        if self.liberty is not None:
            object.__setattr__(self, "liberty", Path(self.liberty))
        check_integer("node_nm", self.node_nm, 1)
        if self.area_unit not in ("GE", "um2"):
            raise ValueError(f"area_unit must be 'GE' or 'um2', not {self.area_unit!r}")
        if not isinstance(self.flow, SynthesisFlow):
            raise ValueError(f"flow must be a SynthesisFlow, not {self.flow!r}")


#: The flow of ``osu018``: Kogge-Stone adders, carry-save trees, ABC's SOP balancing.
OSU018_FLOW = SynthesisFlow(lcu="kogge-stone", arith_tree=True, abc_script="sop-balance")

#: Flows by name (``python -m rpu synth --flow NAME``): Yosys's own, and the delay-oriented
#: flow of ``osu018``.
FLOWS = {"yosys": DEFAULT_FLOW, "delay": OSU018_FLOW}

#: The libraries known by name, the default first.
LIBRARIES = {
    "generic": Library(
        name="generic", liberty=None, node_nm=REFERENCE_NODE_NM, area_unit="GE",
        description="the project's generic library in gate equivalents "
                    "(rpu.eda.cell_library)"),
    "osu018": Library(
        name="osu018", liberty=Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib"),
        node_nm=180, area_unit="um2",
        description="the OSU 0.18 um standard cells (Oklahoma State University)",
        package="qflow-tech-osu018", flow=OSU018_FLOW),
}

#: The library used when none is named.
DEFAULT_LIBRARY = "generic"


def library_names():
    """The names of :data:`LIBRARIES`, the default first."""
    return tuple(LIBRARIES)


def liberty_library(path, *, node_nm=REFERENCE_NODE_NM):
    """A Liberty file given by path, areas in um2, at ``node_nm`` (default 45 nm).

    The file is not read here (:func:`rpu.eda.report.check_liberty` does, naming the
    option)."""
    path = Path(path)
    return Library(name=path.name or str(path), liberty=path, node_nm=node_nm,
                   area_unit="um2", description=f"the Liberty file {path}")


def resolve_library(name_or_path=None):
    """The library for ``python -m rpu synth --library NAME_OR_PATH``.

    Parameters
    ----------
    name_or_path : str, os.PathLike, Library or None
        A name of :data:`LIBRARIES` (None: :data:`DEFAULT_LIBRARY`), a :class:`Library`
        (returned as it is), or the path of a Liberty file (an existing file, or a name
        ending in ``.lib``; :func:`liberty_library`).

    Returns
    -------
    Library

    Raises
    ------
    SynthInputError
        A named library whose Liberty file is not installed (the message names
        ``--library`` and the package to install), or a name that is neither a known
        library nor a Liberty file (the message lists the known names).
    """
    if name_or_path is None:
        name_or_path = DEFAULT_LIBRARY
    if isinstance(name_or_path, Library):
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise SynthInputError(f"--library: expected a library name or a Liberty file, not "
                              f"{name_or_path!r}")
    library = LIBRARIES.get(name_or_path) if isinstance(name_or_path, str) else None
    if library is not None:
        if library.liberty is not None and not library.liberty.is_file():
            install = (f"install it with `apt-get install {library.package}`"
                       if library.package else "install it")
            raise SynthInputError(
                f"--library {library.name}: {library.liberty} does not exist (the Liberty "
                f"file of {library.description}); {install}, or choose another library "
                f"({', '.join(n for n in LIBRARIES if n != library.name)}) or a Liberty "
                "file with --liberty PATH")
        return library
    path = Path(name_or_path)
    if path.is_file() or path.suffix == ".lib":
        return liberty_library(path)
    raise SynthInputError(f"--library: unknown library {str(name_or_path)!r}: choose one of "
                          f"{', '.join(LIBRARIES)}, or give a Liberty file (.lib)")
