"""Where the points run: in this process, on a local process pool, or on a Dask cluster;
and the progress bar on stderr."""

import sys
import time

from rpu.explore.errors import ExploreInputError, ExplorePointError


__all__ = ["Runner", "connect", "ProgressBar"]


class ProgressBar:
    """A progress bar on a stream (stderr): redrawn in place on a terminal, else a line
    every tenth of the way."""

    def __init__(self, total, *, stream=None, label="explore", unit="points", width=30):
        self.total, self.label, self.unit, self.width = total, label, unit, width
        self.stream = sys.stderr if stream is None else stream
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.done = 0
        self.started = time.monotonic()
        self._last_decile = -1
        self._draw()

    def update(self, count=1):
        self.done += count
        self._draw()

    def _draw(self):
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(self.width * fraction))
        elapsed = time.monotonic() - self.started
        text = (f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] "
                f"{self.done}/{self.total} {self.unit}, {elapsed:.0f} s")
        if 0 < self.done < self.total:
            text += f", ~{elapsed * (self.total - self.done) / self.done:.0f} s left"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done >= self.total else ""))
        else:
            decile = int(10 * fraction)
            if decile == self._last_decile and self.done < self.total:
                return
            self._last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()


class Runner:
    """Runs ``function(shared, item)`` over items: in this process (one job, or one item),
    on a local process pool (kept for every map), or on a Dask cluster (``shared`` is
    scattered to the workers once)."""

    def __init__(self, jobs, client=None, address=None):
        self.jobs, self.client, self.address = jobs, client, address
        self.pool = None

    def where(self, count):
        if self.client is not None:
            return f"Dask scheduler {self.address}"
        if self.jobs == 1 or count == 1:
            return "this process"
        return f"{min(self.jobs, count)} local processes"

    def backend(self, count):
        if self.client is not None:
            workers = len(self.client.scheduler_info().get("workers", {}))
            return {"kind": "dask.distributed", "scheduler": self.address, "workers": workers}
        if self.jobs == 1 or count == 1:
            return {"kind": "in process", "jobs": 1}
        return {"kind": "process pool", "jobs": min(self.jobs, count)}

    def map(self, function, shared, items, describe, progress):
        """Results in the order of ``items``; a failed item raises ExplorePointError."""
        if self.client is not None:
            return self._map_dask(function, shared, items, describe, progress)
        if self.jobs == 1 or len(items) == 1:
            results = []
            for item in items:
                try:
                    results.append(function(shared, item))
                except Exception as error:
                    raise ExplorePointError(f"{describe(item)} failed: {error}") from error
                progress.update()
            return results
        return self._map_pool(function, shared, items, describe, progress)

    def _map_pool(self, function, shared, items, describe, progress):
        import concurrent.futures as futures
        import multiprocessing

        if self.pool is None:
            self.pool = futures.ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"))
        results = [None] * len(items)
        pending = {}
        try:
            pending = {self.pool.submit(function, shared, item): index
                       for index, item in enumerate(items)}
            for future in futures.as_completed(pending):
                index = pending[future]
                try:
                    results[index] = future.result()
                except Exception as error:
                    raise ExplorePointError(f"{describe(items[index])} failed: "
                                            f"{error}") from error
                progress.update()
        except BaseException:
            for future in pending:
                future.cancel()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
            raise
        return results

    def _map_dask(self, function, shared, items, describe, progress):
        from distributed import as_completed

        client = self.client
        submitted = []
        try:
            [shared_future] = client.scatter([shared], broadcast=True, hash=False)
            submitted = [client.submit(function, shared_future, item, pure=False)
                         for item in items]
            index_of = {future.key: index for index, future in enumerate(submitted)}
            results = [None] * len(items)
            for future in as_completed(submitted, loop=client.loop):
                index = index_of[future.key]
                try:
                    results[index] = future.result()
                except Exception as error:
                    raise ExplorePointError(f"{describe(items[index])} failed on the Dask "
                                            f"cluster: {error}") from error
                progress.update()
            return results
        except BaseException:
            if submitted:
                client.cancel(submitted)
            raise

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        if self.client is not None:
            self.client.close()


def connect(address, timeout):
    """A ``distributed.Client`` of the scheduler at ``address``."""
    try:
        from distributed import Client
        from distributed.comm import registry
        from distributed.comm.addressing import parse_address
    except ImportError as error:
        raise ExploreInputError(f"--scheduler: needs Dask's distributed scheduler "
                                f"(pip install dask distributed): {error}") from None
    try:
        registry.get_backend(parse_address(address, strict=False)[0])
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise ExploreInputError(f"--scheduler: cannot connect to {address!r}: "
                                f"{error}") from None
