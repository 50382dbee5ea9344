"""The ASGI app of one worker process (Starlette). Its settings come from the environment variable
SETTINGS_ENV (JSON: model, name, max_seq_length, runtime, max_batch_size, max_batch_delay,
max_queue), which `server.serve` sets before uvicorn starts the workers.

Routes:
- POST /v1/predict: {"texts": [...]} (or "questions", "items", by task) -> {"results": [record, ...]},
  each record as `paddle-electra predict` writes it.
- POST /predict/NAME: PaddleHub serving's protocol, {"data": [[text], ...]} ->
  {"msg": "", "results": [...], "status": "000"}, results as the PaddleHub module's `predict`.
- GET /health: 200 {"status": "ready", ...} (a worker takes requests only once warmed up).
- GET /metrics: Prometheus text (metrics.py).
Errors: 400 malformed (the reason as JSON), 404 another NAME, 413 a body over MAX_REQUEST_BYTES,
503 with Retry-After when the queue is full.
"""

import asyncio
import contextlib
import glob
import itertools
import json
import logging
import os
import re
import signal
import threading
import time

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from paddle_electra.serving.batcher import Batcher, Overloaded
from paddle_electra.serving.metrics import MULTIPROC_ENV, Metrics, exposition, worker_exited
from paddle_electra.serving.model import RequestError, ServedModel
from paddle_electra.utils.memory import freeze_start_up_objects, release_freed_memory
from paddle_electra.utils.quiet import configure_output, verbose

SETTINGS_ENV = "PADDLE_ELECTRA_SERVE"
MAX_REQUEST_BYTES = 4 << 20
TRIM_EVERY = 50  # batches between giving freed memory back (utils/memory.py)
logger = logging.getLogger(__name__)


class TooLarge(RequestError):
    """A body over MAX_REQUEST_BYTES: HTTP 413."""


class JSON(Response):
    """A JSON response written by orjson, numpy arrays and scalars as they are (float32 values in
    their shortest form): an embeddings answer of 8,000 floats takes 0.2 ms, not the 3 ms of
    `json.dumps` on their `tolist()`."""

    media_type = "application/json"

    def render(self, content):
        return orjson.dumps(content, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(value):
    """What orjson leaves to us: numpy arrays that are not C-contiguous, other numpy values."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def create_app(settings=None):
    """The app for `settings` (default: read from SETTINGS_ENV)."""
    configure_output(verbose())
    # per-request notices of the task layer (e.g. how many texts were read in windows) stay out of
    # a server's log
    logging.getLogger("paddle_electra.tasks").setLevel(logging.WARNING)
    settings = settings or json.loads(os.environ[SETTINGS_ENV])
    state = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if settings.get("supervised"):
            _stop_with_the_server()
        _forget_dead_workers()
        metrics = Metrics()
        model = await asyncio.to_thread(_warm_model, settings)
        batches = itertools.count(1)

        def run(rows):  # in the model thread
            outputs = model.run(rows, settings["max_batch_size"])
            if next(batches) % TRIM_EVERY == 0:
                release_freed_memory()
            return outputs

        batcher = Batcher(
            run,
            settings["max_batch_size"],
            settings["max_batch_delay"],
            settings["max_queue"],
            on_batch=metrics.batch_rows.observe,
        )
        batcher.start()
        state.update(model=model, batcher=batcher, metrics=metrics)
        metrics.ready.set(1)
        logger.info("worker %d ready: %s (%s)", os.getpid(), model.name, model.kind)
        yield
        metrics.ready.set(0)
        await batcher.stop()

    async def v1_predict(request):
        return await _answer(request, state, "v1", lambda model, body: model.parse(body), v1_body)

    async def hub_predict(request):
        if request.path_params["name"] != state["model"].name:
            return JSON(
                {
                    "msg": f"no module {request.path_params['name']!r}: POST /predict/{state['model'].name}",
                    "results": "",
                    "status": "404",
                },
                status_code=404,
            )
        return await _answer(request, state, "hub", lambda model, body: model.parse_hub(body), hub_body)

    async def health(request):
        model = state["model"]
        return JSON({"status": "ready", "model": model.name, "task": model.kind, "pid": os.getpid()})

    async def metrics(request):
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route("/v1/predict", v1_predict, methods=["POST"]),
            Route("/predict/{name}", hub_predict, methods=["POST"]),
            Route("/health", health),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )


def _warm_model(settings):
    model = ServedModel(
        settings["model"], settings.get("max_seq_length"), settings.get("runtime"), settings.get("name")
    )
    model.warm_up(settings["max_batch_size"])
    freeze_start_up_objects()
    return model


async def _answer(request, state, route, parse, body_of):
    """Read, check, batch and answer one request; every outcome counted in the metrics."""
    start, metrics, batcher = time.perf_counter(), state["metrics"], state["batcher"]
    try:
        model = state["model"]
        examples = parse(model, await json_body(request))
        rows, prepared = model.prepare(examples)
        metrics.queue_rows.set(batcher.depth + len(rows))
        outputs = await batcher.submit(rows)
        code, body = 200, body_of(model.finish(examples, rows, prepared, outputs, hub=route == "hub"))
    except TooLarge as e:
        code, body = 413, error_body(route, 413, e)
    except RequestError as e:
        code, body = 400, error_body(route, 400, e)
    except Overloaded as e:
        code, body = 503, error_body(route, 503, e)
    except Exception as e:  # a bug or a model failure: 500 with the reason, the worker goes on
        logger.exception("request failed")
        code, body = 500, error_body(route, 500, f"{type(e).__name__}: {e}")
    metrics.queue_rows.set(batcher.depth)
    metrics.answered(route, code, time.perf_counter() - start)
    headers = {"Retry-After": "1"} if code == 503 else None
    return JSON(body, status_code=code, headers=headers)


def v1_body(records):
    return {"results": records}


def hub_body(results):
    return {"msg": "", "results": results, "status": "000"}


def error_body(route, code, message):
    """The error body: PaddleHub's envelope (status: the HTTP code) on its route, else {"error"}."""
    return (
        {"msg": str(message), "results": "", "status": str(code)}
        if route == "hub"
        else {"error": str(message)}
    )


async def json_body(request):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise TooLarge(f"the body is over {MAX_REQUEST_BYTES} bytes: split the request")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise TooLarge(f"the body is over {MAX_REQUEST_BYTES} bytes: split the request")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"the body is not JSON ({type(e).__name__}): send a JSON object") from None


def _stop_with_the_server():
    """A worker whose server process is gone (killed with SIGKILL) stops as on SIGTERM, instead of
    serving on, orphaned, from the shared socket."""
    server = os.getppid()

    def watch():
        while os.getppid() == server:
            time.sleep(1.0)
        logger.warning("worker %d: the server process %d is gone: stopping", os.getpid(), server)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="server-watch").start()


def _forget_dead_workers():
    """Live gauges of workers that died (replaced by uvicorn) no longer count."""
    for path in glob.glob(os.path.join(os.environ[MULTIPROC_ENV], "gauge_live*_*.db")):
        pid = int(re.search(r"_(\d+)\.db$", path).group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            worker_exited(pid)
        except PermissionError:
            pass
