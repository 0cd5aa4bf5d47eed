"""The package's layers point one way, and no module imports itself back.

The rules are read from the source with :mod:`ast` (every import, lazy ones inside functions
included), so they stay true as the code grows. ``docs/architecture.md`` draws the layers.
"""

import ast
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rpu", "pim", "lstm_ref")

#: Sub-packages (and top-level modules) that each layer must not import.
FORBIDDEN = {
    "lstm_ref": ("rpu", "pim"),
    "pim": ("rpu",),
    "rpu.config": ("rpu.", "pim"),
    "rpu.files": ("rpu.", "pim", "lstm_ref"),
    "rpu.hw": ("rpu.sim", "rpu.eda", "rpu.frontend", "rpu.cli", "rpu.compiler", "rpu.energy",
               "rpu.explore", "rpu.generator", "rpu.files", "rpu.fpga", "rpu.host", "rpu.flow"),
    "rpu.compiler": ("rpu.sim", "rpu.eda", "rpu.frontend", "rpu.cli", "rpu.energy",
                     "rpu.explore", "rpu.generator", "rpu.fpga", "rpu.host", "rpu.flow"),
    # rpu.files, the one atomic writer (stdlib and numpy only), is allowed.
    "rpu.frontend": ("rpu.config", "rpu.hw", "rpu.compiler", "rpu.generator", "rpu.sim",
                     "rpu.eda", "rpu.energy", "rpu.explore", "rpu.cli", "pim"),
    "rpu.generator": ("rpu.sim", "rpu.eda", "rpu.frontend", "rpu.cli", "rpu.energy",
                      "rpu.explore", "rpu.fpga", "rpu.host", "rpu.flow"),
    "rpu.sim": ("rpu.eda", "rpu.frontend", "rpu.cli", "rpu.energy", "rpu.explore", "rpu.fpga",
                "rpu.host", "rpu.flow"),
    "rpu.eda": ("rpu.frontend", "rpu.cli", "rpu.energy", "rpu.explore", "rpu.fpga", "rpu.host",
                "rpu.flow"),
    "rpu.energy": ("rpu.sim", "rpu.eda", "rpu.frontend", "rpu.cli", "rpu.explore", "rpu.fpga",
                   "rpu.host", "rpu.flow"),
    "rpu.explore": ("rpu.cli", "rpu.fpga", "rpu.host"),
    # The board top (gateware, build flow, fit check) sits beside the simulators: it wraps
    # the hardware and may read the compiler's schedule, nothing above it.
    "rpu.fpga": ("rpu.frontend", "rpu.cli", "rpu.energy", "rpu.explore", "rpu.host", "rpu.flow",
                 "rpu.eda"),
    # The host driver talks to a board (real, or simulated by rpu.fpga's Verilator model).
    "rpu.host": ("rpu.frontend", "rpu.cli", "rpu.energy", "rpu.explore", "rpu.eda",
                 "rpu.flow"),
    # The model-to-hardware flow behind `run`: everything but the command line.
    "rpu.flow": ("rpu.cli",),
}

#: Third-party packages a layer may import (the standard library is always allowed).
THIRD_PARTY = {
    "lstm_ref": {"numpy"},
    "pim": {"amaranth"},
    "rpu.hw": {"amaranth", "numpy"},
    # torch only to read a .pt file, and only when the user has it installed.
    "rpu.frontend": {"numpy", "torch"},
}


def modules():
    """Dotted name -> path of every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name, path):
    """Every module name ``path`` imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def internal_graph():
    """Module -> the project modules it imports (a name imported from a package counts as
    that package's module when it is one)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = set()
        for imported in imports_of(name, path):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported in known:
                targets.add(imported)
        graph[name] = targets
    return graph


def layer_of(name):
    """The most specific key of FORBIDDEN / THIRD_PARTY that ``name`` falls under."""
    best = None
    for layer in set(FORBIDDEN) | set(THIRD_PARTY):
        if name == layer or name.startswith(layer + "."):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def falls_under(name, prefix):
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def test_layers_point_one_way():
    graph = internal_graph()
    broken = []
    for name, targets in sorted(graph.items()):
        layer = layer_of(name)
        for target in sorted(targets):
            if layer is None or falls_under(target, layer):
                continue
            if any(falls_under(target, forbidden) for forbidden in FORBIDDEN.get(layer, ())):
                broken.append(f"{name} imports {target}")
    assert broken == []


def test_only_the_cli_imports_the_cli():
    graph = internal_graph()
    broken = [f"{name} imports {target}"
              for name, targets in sorted(graph.items())
              for target in sorted(targets)
              if falls_under(target, "rpu.cli")
              and not (falls_under(name, "rpu.cli") or name == "rpu.__main__")]
    assert broken == []


def test_third_party_imports():
    known = modules()
    stdlib = set(sys.stdlib_module_names)
    broken = []
    for name, path in sorted(known.items()):
        layer = layer_of(name)
        if layer not in THIRD_PARTY:
            continue
        for imported in imports_of(name, path):
            top = imported.split(".")[0]
            if top in stdlib or top in PACKAGES or not top:
                continue
            if top not in THIRD_PARTY[layer]:
                broken.append(f"{name} imports {imported}")
    assert broken == []


def _cycles(graph):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def _package_graph(graph):
    """The same graph between sub-packages (``rpu.hw``, ``rpu.sim``, ``pim``, ...)."""
    def package(name):
        parts = name.split(".")
        return ".".join(parts[:2]) if parts[0] == "rpu" else parts[0]
    folded = {}
    for name, targets in graph.items():
        if name in ("rpu", "rpu.__main__"):
            continue
        source = package(name)
        folded.setdefault(source, set()).update(
            package(target) for target in targets if package(target) != source)
    return folded


def test_no_import_cycles_between_modules():
    graph = internal_graph()
    # A package's __init__ re-exporting its modules is not a cycle of the design.
    graph = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in graph.items()}
    assert _cycles(graph) == []


def test_no_import_cycles_between_layers():
    assert _cycles(_package_graph(internal_graph())) == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder(graph, expected):
    assert _cycles(graph) == expected


def test_a_forbidden_import_is_seen(tmp_path):
    path = tmp_path / "top.py"
    path.write_text("def f():\n    from ..sim import hdl\n")
    assert imports_of("rpu.hw.top", path) == ["rpu.sim", "rpu.sim.hdl"]
    graph = {"rpu.hw.top": {"rpu.sim.hdl"}}
    assert layer_of("rpu.hw.top") == "rpu.hw"
    assert any(falls_under("rpu.sim.hdl", forbidden) for forbidden in FORBIDDEN["rpu.hw"])
    assert _package_graph(graph) == {"rpu.hw": {"rpu.sim"}}
