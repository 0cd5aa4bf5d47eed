"""A worker process that loads files with :mod:`rpu.frontend` under a memory and a time bound.

The worker limits its own address space with ``resource.setrlimit(RLIMIT_AS, ...)`` to what
it uses after importing the frontend plus ``extra_bytes``, so pytest itself is never
limited; each load is given ``timeout`` seconds, after which the worker is killed and
restarted. A load ends in one of:

* ``"ok"``: the file was imported;
* ``"refused"``: ModelImportError or InputError (``message`` says why);
* ``"crash"``: any other exception (``type``, ``message``, ``traceback``), MemoryError
  included;
* ``"died"`` (the worker ended, e.g. killed by the kernel) or ``"timeout"``.
"""

import json
import os
import select
import subprocess
import sys
import time

from tests.helpers import REPO


__all__ = ["Sandbox", "DEFAULT_EXTRA_BYTES"]

#: Memory a load may use beyond the worker's own after its imports: the frontend's
#: OVERHEAD_BYTES (64 MiB) and its constant-folding budget for small files, with room for
#: the allocator.
DEFAULT_EXTRA_BYTES = 256 << 20

_WORKER = r"""
import json, resource, sys, time, traceback

from rpu.frontend import ModelImportError, load_model
from rpu.frontend.arrays import InputError, load_inputs_array, load_weights

def virtual_size():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")

limit = virtual_size() + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
print(json.dumps({"ready": limit}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    start = time.monotonic()
    try:
        if request["kind"] == "model":
            load_model(request["path"], **request.get("options", {}))
        elif request["kind"] == "inputs":
            load_inputs_array(request["path"], "--inputs")
        else:
            load_weights(request["path"])
        result = {"outcome": "ok"}
    except (ModelImportError, InputError) as error:
        result = {"outcome": "refused", "message": str(error)}
    except BaseException as error:
        result = {"outcome": "crash", "type": type(error).__name__,
                  "message": str(error)[:500], "traceback": traceback.format_exc()[-3000:]}
    result["seconds"] = time.monotonic() - start
    print(json.dumps(result), flush=True)
"""


class Sandbox:
    """A worker process loading files under a memory and a time bound (see the module)."""

    def __init__(self, extra_bytes=DEFAULT_EXTRA_BYTES, timeout=20.0):
        self.extra_bytes, self.timeout = extra_bytes, timeout
        self.process = None

    def _start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1",
                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen([sys.executable, "-c", _WORKER, str(self.extra_bytes)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        cwd=REPO, env=env, text=True)
        ready = self._read_line(60.0)
        if ready is None or "ready" not in json.loads(ready):
            raise RuntimeError("the sandbox worker did not start")

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([self.process.stdout], [], [], left)
            if readable:
                return self.process.stdout.readline() or ""

    def load(self, path, kind="model", **options):
        """Load ``path`` (``kind``: ``"model"``, ``"inputs"`` or ``"weights"``); return the
        result dict."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        request = {"path": str(path), "kind": kind, "options": options}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._restart({"outcome": "died"})
        line = self._read_line(self.timeout)
        if line is None:
            return self._restart({"outcome": "timeout"})
        if not line:
            return self._restart({"outcome": "died", "returncode": self.process.wait()})
        return json.loads(line)

    def _restart(self, result):
        self.close()
        return result

    def close(self):
        """End the worker."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
            self.process = None
