"""Dynamic batching in one worker process: the rows of the requests that arrive within a short window
run as one call of `run` (which groups them by length), and each request gets its own rows'
outputs back. The model runs in one background thread, so the event loop keeps taking requests
while a batch runs; those requests form the next batch.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from paddle_electra.utils.errors import PaddleElectraError


class Overloaded(PaddleElectraError, RuntimeError):
    """The queue is full: HTTP 503 with Retry-After."""


class Batcher:
    """`await batcher.submit(rows)` -> the outputs of `rows` (a list, one per row).

    Args:
        run: function(list of rows) -> list of outputs, called in a background thread.
        max_batch_size: rows per call of `run` (a request with more rows runs alone).
        max_delay: seconds a batch waits, after its first request arrived, for more requests;
            only while the previous batch held several requests (under load), so that a lone
            client is not delayed: requests that arrive while a batch runs join the next one.
        max_queue: rows waiting at most; past it, `submit` raises Overloaded.
        on_batch: function(rows in the batch) called after each batch (metrics).
    """

    def __init__(self, run, max_batch_size=32, max_delay=0.005, max_queue=1024, on_batch=None):
        self.run, self.max_batch_size, self.max_delay, self.max_queue = (
            run,
            max_batch_size,
            max_delay,
            max_queue,
        )
        self.on_batch = on_batch
        self._waiting = []  # (rows, future, arrival time)
        self.depth = 0  # rows waiting
        self._arrived = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model")
        self._together = False  # the last batch held several requests: there is load to wait for
        self._task = None

    def start(self):
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self):
        """Finish what is queued, then stop."""
        while self._waiting:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, rows):
        if self.depth + len(rows) > self.max_queue and self.depth:
            raise Overloaded(f"{self.depth} rows are waiting: retry later")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future, time.monotonic()))
        self.depth += len(rows)
        self._arrived.set()
        return await future

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._waiting:
                # under load, wait out the window of the oldest request, unless a full batch is
                # already here; a lone client's request runs at once
                wait = self._waiting[0][2] + self.max_delay - time.monotonic()
                if self._together and wait > 0 and self.depth < self.max_batch_size:
                    await asyncio.sleep(wait)
                batch = self._take()
                self._together = len(batch) > 1
                rows = [row for request_rows, _, _ in batch for row in request_rows]
                try:
                    outputs = await loop.run_in_executor(self._executor, self.run, rows)
                except Exception as e:  # the batch's requests fail, the worker goes on
                    for _, future, _ in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                if self.on_batch is not None:
                    self.on_batch(len(rows))
                start = 0
                for request_rows, future, _ in batch:
                    if not future.done():  # a client that went away has a cancelled future
                        future.set_result(outputs[start : start + len(request_rows)])
                    start += len(request_rows)

    def _take(self):
        """The oldest requests, up to max_batch_size rows (at least one request)."""
        taken, count = [], 0
        while self._waiting and (not taken or count + len(self._waiting[0][0]) <= self.max_batch_size):
            request = self._waiting.pop(0)
            taken.append(request)
            count += len(request[0])
        self.depth -= count
        return taken
