"""`serve`: a model on uvicorn with several worker processes (uvicorn's own supervisor starts them,
shares the listening socket, replaces a worker that dies, and on SIGTERM lets each finish its
requests). The parent resolves the model and times the engines for every size class once, so the
workers start from the saved choices; each worker warms up before it takes a request."""

import json
import logging
import os
import shutil
import tempfile

from paddle_electra.serving.app import SETTINGS_ENV
from paddle_electra.serving.metrics import MULTIPROC_ENV
from paddle_electra.serving.model import ServedModel
from paddle_electra.training.finetune import resolve_model
from paddle_electra.utils.cpuinfo import cpu_count

logger = logging.getLogger(__name__)


def default_workers(threads=None):
    """(workers, threads per worker): one single-threaded worker per core (at most 8) by default,
    as small models and short texts keep a worker's own Python busy; with `threads`, the cores
    divided among workers of that many threads."""
    cores = cpu_count()
    if threads:
        return max(1, cores // threads), threads
    workers = min(cores, 8)
    return workers, max(1, cores // workers)


def serve(
    model,
    host="127.0.0.1",
    port=8000,
    workers=None,
    threads=None,
    max_seq_length=None,
    runtime=None,
    max_batch_size=32,
    max_batch_delay=0.005,
    max_queue=1024,
    graceful_timeout=30,
):
    """Serve `model` (a model directory, a model name, an installed hub module) until SIGINT /
    SIGTERM. `runtime`: Predictor options (backend, precision); the other arguments as the
    `paddle-electra serve` flags."""
    import uvicorn

    default, default_threads = default_workers(threads)
    workers = workers or default
    threads = threads or (default_threads if workers == default else max(1, cpu_count() // workers))
    runtime = {**(runtime or {}), "threads": threads}
    name = os.path.basename(os.path.normpath(model))
    directory = resolve_model(model)
    served = ServedModel(directory, max_seq_length, runtime, name=name)
    served.warm_up(max_batch_size)  # times the engines once; the workers read the saved choices
    settings = {
        "model": directory,
        "name": name,
        "max_seq_length": served.max_seq_length,
        "runtime": runtime,
        "max_batch_size": max_batch_size,
        "max_batch_delay": max_batch_delay,
        "max_queue": max_queue,
        "supervised": workers > 1,  # uvicorn's supervisor runs the workers as its child processes
    }
    kind = served.kind
    del served
    metrics_dir = tempfile.mkdtemp(prefix="paddle-electra-metrics-")
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    os.environ[MULTIPROC_ENV] = metrics_dir
    print(
        f"serving {name} ({kind}) on http://{host}:{port}: POST /v1/predict, POST /predict/{name}, "
        f"GET /health, GET /metrics; {workers} worker(s) x {threads} thread(s)",
        flush=True,
    )
    try:
        uvicorn.run(
            "paddle_electra.serving.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=graceful_timeout,
            timeout_worker_healthcheck=30,  # a worker busy with long batches on a loaded machine is not hung
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
