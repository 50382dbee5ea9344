"""`predict` over several processes and machines, as pretraining and fine-tuning run data-parallel:

    python -m paddle.distributed.launch --nproc_per_node 2 $(which paddle-electra) predict \\
        --model runs/chnsenticorp --data-file corpus.txt --output predictions.jsonl

Process r of N predicts examples r, r + N, r + 2N, ... of the file (strided rather than contiguous
shares, so that every process gets the same mix of short and long texts wherever the long ones sit
in the file: the processes finish together). Each writes its records to OUT.shards/rank-R.jsonl
(through a .partial file and a rename), then the marker rank-R.done holding its record count; a
process that fails writes rank-R.failed with its error instead. The first process, after its own
shard, waits for every other marker, then interleaves the shards back into input order in
OUT.partial and renames that to OUT: OUT appears complete or not at all. A failed process, a shard
of the wrong size or a timeout: the first process raises with the reason and writes no OUT; the
shards are removed either way. On several machines OUT must be on a filesystem all of them see.

The processes start in step: the first removes what an interrupted run left (OUT.shards,
OUT.partial), then all pass a barrier of the process group (gloo on CPUs), so no marker of an
earlier run is ever read. Math threads per process: the machine's cores divided among its processes.
"""

import json
import os
import shutil
import signal
import sys
import threading
import time

from paddle_electra.utils.cpuinfo import cpu_count
from paddle_electra.utils.errors import PaddleElectraError

DEFAULT_TIMEOUT = 3600.0  # seconds the first process waits for the others after its own shard
POLL_SECONDS = 0.2


class DistributedPredictError(PaddleElectraError, RuntimeError):
    """Another process failed, its shard does not fit, or it did not finish in time."""


def launched():
    """(processes, this one's rank, processes on this machine) under `paddle.distributed.launch`
    (its PADDLE_TRAINERS_NUM, PADDLE_TRAINER_ID, PADDLE_LOCAL_SIZE); (1, 0, 1) otherwise."""
    world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1") or 1)
    rank = int(os.environ.get("PADDLE_TRAINER_ID", "0") or 0)
    local = int(os.environ.get("PADDLE_LOCAL_SIZE", str(world)) or world)
    return world, rank, local


def threads_per_process(local):
    """The cores this process may use divided among the `local` processes of its machine."""
    return max(1, cpu_count() // max(1, local))


def shard_of(items, rank, world):
    """Items rank, rank + world, rank + 2 * world, ... (a list)."""
    return list(items[rank::world])


def shard_dir(output):
    return output + ".shards"


def _path(output, rank, suffix):
    return os.path.join(shard_dir(output), f"rank-{rank}.{suffix}")


def predict_distributed(output, predict_shard, world, rank, timeout=DEFAULT_TIMEOUT, barrier=None):
    """Run `predict_shard()` (this process's records, JSON-ready) in process `rank` of `world` and
    write all processes' records to `output` in input order (see the module docstring).
    `barrier`: a function all processes call once the first has cleared the way (default: the
    paddle process group's barrier). Returns the number of records on the first process, None on
    the others."""
    barrier = barrier or _paddle_barrier
    # when one process fails the launcher stops the others (SIGTERM): as an exit, so that the
    # cleanup below still runs
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main_thread else None
    try:
        if rank == 0:
            _clear(output)
            try:
                os.makedirs(shard_dir(output))
            except OSError as e:
                raise DistributedPredictError(
                    f"cannot write {shard_dir(output)} ({e.strerror}): choose another --output"
                ) from None
        barrier()
        try:
            records = predict_shard()
            _write_lines(_path(output, rank, "jsonl"), (_line(record) for record in records))
            _write_lines(_path(output, rank, "done"), [f"{len(records)}\n"])
        except BaseException as e:
            if rank != 0 and isinstance(e, FileNotFoundError) and not os.path.isdir(shard_dir(output)):
                # the first process stopped on another rank's failure and removed the shards
                raise DistributedPredictError(
                    f"rank {rank} of {world}: the first process stopped (another rank failed): "
                    "its error names the cause"
                ) from None
            if rank != 0:
                _mark_failed(output, rank, e)
            raise
        if rank != 0:
            return None
        return merge_shards(output, world, len(records), timeout)
    finally:
        if rank == 0:
            shutil.rmtree(shard_dir(output), ignore_errors=True)
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def merge_shards(output, world, first_count, timeout=DEFAULT_TIMEOUT):
    """Wait for the markers of ranks 1 .. world - 1, check each shard's size against the first's
    (`first_count` records: the others hold as many or one fewer), and interleave the shards into
    `output` through output.partial. Returns the number of records."""
    counts = [first_count] + _wait_for_shards(output, world, timeout)
    total = sum(counts)
    expected = [len(range(rank, total, world)) for rank in range(world)]
    if counts != expected:
        raise DistributedPredictError(
            f"the shards of {output} hold {counts} records, expected {expected} from {total} "
            "examples: every process must read the same --data-file"
        )
    partial = output + ".partial"
    shards = [open(_path(output, rank, "jsonl"), encoding="utf-8", newline="") for rank in range(world)]
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            for i in range(total):
                line = shards[i % world].readline()
                if not line.endswith("\n"):
                    raise DistributedPredictError(
                        f"the shard of rank {i % world} ended early at record {i // world} of "
                        f"{counts[i % world]}: its file was changed during the merge"
                    )
                out.write(line)
        os.replace(partial, output)
    except BaseException:
        _remove(partial)
        raise
    finally:
        for f in shards:
            f.close()
    return total


def _wait_for_shards(output, world, timeout):
    """The record counts of ranks 1 .. world - 1, once all are done; raises on a failure marker or
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    counts = {}
    while True:
        for rank in range(1, world):
            if rank in counts:
                continue
            failed = _path(output, rank, "failed")
            if os.path.exists(failed):
                with open(failed, encoding="utf-8") as f:
                    reason = f.read().strip()
                raise DistributedPredictError(
                    f"rank {rank} of {world} failed ({reason}): no output written to {output}"
                )
            done = _path(output, rank, "done")
            if os.path.exists(done):
                with open(done, encoding="utf-8") as f:
                    counts[rank] = int(f.read())
        if len(counts) == world - 1:
            return [counts[rank] for rank in range(1, world)]
        if time.monotonic() > deadline:
            missing = [str(rank) for rank in range(1, world) if rank not in counts]
            raise DistributedPredictError(
                f"rank(s) {', '.join(missing)} of {world} did not finish within {timeout:g} s of the "
                f"first: no output written to {output}. See their logs (the launcher's --log_dir, "
                "workerlog.RANK); a larger corpus per process needs a larger --shard-timeout"
            )
        time.sleep(POLL_SECONDS)


def _line(record):
    return json.dumps(record, ensure_ascii=False) + "\n"


def _write_lines(path, lines):
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8", newline="") as f:
        f.writelines(lines)
    os.replace(partial, path)


def _mark_failed(output, rank, error):
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    try:
        _write_lines(_path(output, rank, "failed"), [reason.replace("\n", " ") + "\n"])
    except OSError:
        pass  # the first process is gone (and removed the shards): the launcher reports this one


def _clear(output):
    shutil.rmtree(shard_dir(output), ignore_errors=True)
    _remove(output + ".partial")


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _paddle_barrier():
    import paddle.distributed as dist

    if not dist.is_initialized():
        dist.init_parallel_env()
    dist.barrier()


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)
