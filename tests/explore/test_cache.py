"""The synthesis cache key covers every source file that generation and synthesis run.

:func:`rpu.explore.cache._import_closure` finds those files statically (by parsing the
imports from :data:`rpu.explore.cache._SYNTHESIS_ROOTS`); here a fresh interpreter imports
:mod:`rpu.generator` and :mod:`rpu.eda.report` for real, and every project module it loads
must be in the closure, so a module split or added is never left out of the key.
"""

import json
import subprocess
import sys

from rpu.config import RPUConfig
from rpu.explore import cache
from tests.helpers import REPO


LOADED = """
import json, sys
import rpu.generator, rpu.eda.report
print(json.dumps(sorted(m.__file__ for name, m in list(sys.modules.items())
                        if name.split(".")[0] in ("rpu", "pim", "lstm_ref")
                        and getattr(m, "__file__", None))))
"""


def test_closure_holds_every_module_generation_and_synthesis_load():
    process = subprocess.run([sys.executable, "-c", LOADED], cwd=REPO, capture_output=True,
                             text=True, timeout=300, check=True)
    loaded = {str((REPO / path).resolve()) for path in json.loads(process.stdout)}
    closure = {str(path.resolve()) for path in cache._import_closure(REPO,
                                                                    cache._SYNTHESIS_ROOTS)}
    assert loaded, "nothing loaded"
    assert sorted(loaded - closure) == []
    # The roots, the hardware and the synthesis modules are in it (lazy imports too); the
    # command line and explore are not.
    names = {str(path.relative_to(REPO)) for path in cache._import_closure(
        REPO, cache._SYNTHESIS_ROOTS)}
    assert {"rpu/generator.py", "rpu/eda/report.py", "rpu/hw/top.py", "pim/lane.py"} <= names
    assert len([name for name in names if name.startswith("rpu/eda/")]) >= 3
    assert not any(name.startswith(("rpu/cli/", "rpu/explore/")) for name in names)


def test_key_depends_on_configuration_and_liberty(tmp_path):
    small = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=4,
                      activation_units=1, elementwise_units=1)
    other = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                      activation_units=1, elementwise_units=1)
    liberty = tmp_path / "a.lib"
    liberty.write_text("library (a) { }\n")
    keys = {cache.synthesis_key(small), cache.synthesis_key(other),
            cache.synthesis_key(small, liberty)}
    assert len(keys) == 3 and all(len(key) == 64 for key in keys)
    assert cache.synthesis_key(small) == cache.synthesis_key(RPUConfig(**small.to_dict()))
    liberty.write_text("library (b) { }\n")
    assert cache.synthesis_key(small, liberty) not in keys
