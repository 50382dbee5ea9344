"""The model as Ray Serve replicas: `paddle-electra serve MODEL --ray-address ADDRESS --replicas N`.

Each replica holds one `ServedModel` and answers the plain server's routes (app.py): POST
/v1/predict, POST /predict/NAME (PaddleHub's protocol) and GET /health, with the same bodies and
errors (400, 404, 413, 500). Ray Serve's proxy spreads requests over the replicas (on every machine
of a cluster) and its own dynamic batching (`serve.batch`) gathers a replica's concurrent requests:
their rows run as one `ServedModel.run` (grouped by length, at most max_batch_size rows per
forward), and each request gets its own rows' outputs back. Metrics: Ray's own (the Ray
dashboard / its Prometheus endpoint) instead of /metrics.

`address=None` starts a local Ray instance (loopback only, no dashboard, a small object store,
Ray's logs kept out of the terminal); "auto" or ray://HOST:PORT joins a cluster started with `ray
start`, where a model directory must be at the same path on every machine (or use a model name:
each machine fetches it into its own cache).

Ray is imported here only, and this module only when the CLI is asked for Ray (`--ray-address`).
"""

import asyncio
import logging
import os
import signal
import threading
from dataclasses import dataclass

from ray import serve

from paddle_electra.serving.app import JSON, TooLarge, error_body, hub_body, json_body, v1_body
from paddle_electra.serving.model import RequestError, ServedModel
from paddle_electra.training.finetune import resolve_model
from paddle_electra.utils.cpuinfo import cpu_count
from paddle_electra.utils.memory import freeze_start_up_objects

APP_NAME = "paddle-electra"
LOCAL_OBJECT_STORE_BYTES = 128 << 20  # requests and results are small: Ray's default takes 30 % of memory
QUIET = {"log_level": "WARNING", "enable_access_log": False}  # Serve's controller, proxies and replicas
logger = logging.getLogger(__name__)


def _batch_weight(items):
    """A batch's size for serve.batch: its rows (a request counts at most max_batch_size rows, so a
    request with more rows than that runs alone instead of being refused)."""
    return sum(weight for _, weight in items)


@serve.deployment(name="ServedModel")
class ModelReplica:
    """One replica: a ServedModel, warmed up before it takes requests."""

    def __init__(self, model, name, max_seq_length, runtime, max_batch_size, max_batch_delay):
        self.max_batch_size = max_batch_size
        self.batches = self.batched_requests = 0  # /health reports them
        self.model = ServedModel(model, max_seq_length, runtime, name=name)
        self.model.warm_up(max_batch_size)
        freeze_start_up_objects()
        self._run_batch.set_max_batch_size(max_batch_size)
        self._run_batch.set_batch_wait_timeout_s(max_batch_delay)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005, batch_size_fn=_batch_weight)
    async def _run_batch(self, requests):
        """[(rows, weight)] of concurrent requests -> each request's outputs, from one `run` (in a
        thread: the replica keeps taking requests, which form the next batch)."""
        rows = [row for request_rows, _ in requests for row in request_rows]
        outputs = await asyncio.to_thread(self.model.run, rows, self.max_batch_size)
        self.batches, self.batched_requests = self.batches + 1, self.batched_requests + len(requests)
        answers, start = [], 0
        for request_rows, _ in requests:
            answers.append(outputs[start : start + len(request_rows)])
            start += len(request_rows)
        return answers

    async def __call__(self, request):
        path, method = request.url.path.rstrip("/") or "/", request.method
        if path == "/health" and method == "GET":
            return JSON(
                {
                    "status": "ready",
                    "model": self.model.name,
                    "task": self.model.kind,
                    "pid": os.getpid(),
                    "batches": self.batches,  # this replica's, and the requests they held
                    "batched_requests": self.batched_requests,
                }
            )
        if path == "/v1/predict" and method == "POST":
            return await self._answer(request, "v1", self.model.parse, v1_body)
        if path.startswith("/predict/") and method == "POST":
            name = path[len("/predict/") :]
            if name != self.model.name:
                message = f"no module {name!r}: POST /predict/{self.model.name}"
                return JSON({"msg": message, "results": "", "status": "404"}, status_code=404)
            return await self._answer(request, "hub", self.model.parse_hub, hub_body)
        routes = f"POST /v1/predict, POST /predict/{self.model.name}, GET /health"
        return JSON({"error": f"no route {method} {path}: {routes}"}, status_code=404)

    async def _answer(self, request, route, parse, body_of):
        try:
            examples = parse(await json_body(request))
            rows, prepared = self.model.prepare(examples)
            outputs = await self._run_batch((rows, min(len(rows), self.max_batch_size)))
            return JSON(body_of(self.model.finish(examples, rows, prepared, outputs, hub=route == "hub")))
        except TooLarge as e:
            return JSON(error_body(route, 413, e), status_code=413)
        except RequestError as e:
            return JSON(error_body(route, 400, e), status_code=400)
        except Exception as e:  # a bug or a model failure: 500 with the reason, the replica goes on
            logger.exception("request failed")
            return JSON(error_body(route, 500, f"{type(e).__name__}: {e}"), status_code=500)


@dataclass
class RayServing:
    """A running Ray Serve application (`start_on_ray`); `stop()` takes it down."""

    url: str
    name: str
    kind: str
    replicas: int
    threads: int
    local: bool

    def stop(self):
        """Delete the application; a local Ray instance is shut down with it (a cluster keeps running)."""
        import ray

        try:
            if self.local:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
        finally:
            if self.local:
                ray.shutdown()


def start_on_ray(
    model,
    replicas=2,
    address=None,
    host="127.0.0.1",
    port=8000,
    threads=None,
    max_seq_length=None,
    runtime=None,
    max_batch_size=32,
    max_batch_delay=0.005,
):
    """Start `model` (a model directory, a model name, an installed hub module) as `replicas` Ray Serve
    replicas behind http://host:port and return once every replica is warmed up (RayServing).
    `address`: None for a local Ray instance, else the cluster's ("auto", "ray://HOST:PORT").
    `threads`: math threads (and Ray CPUs) per replica; default: this machine's cores divided among
    the replicas on a local instance, 1 on a cluster. `runtime`: Predictor options (backend,
    precision); `max_batch_size` rows per forward, `max_batch_delay` seconds a batch waits for more
    requests."""
    import ray

    local = address is None
    name = os.path.basename(os.path.normpath(model))
    threads = threads or (max(1, cpu_count() // replicas) if local else 1)
    runtime = {**(runtime or {}), "threads": threads}
    kind = None
    if local:  # a bad directory or name fails before Ray starts
        model = resolve_model(model)
    _init_ray(ray, address, replicas * threads)
    try:
        if local:
            # the engines are timed once here, so that the replicas read the saved choices instead
            # of timing against each other (after Ray started: its processes fork from this one)
            served = ServedModel(model, max_seq_length, runtime, name=name)
            served.warm_up(max_batch_size)
            max_seq_length, kind = served.max_seq_length, served.kind
            del served
        serve.start(http_options={"host": host, "port": port}, logging_config=QUIET)
        app = ModelReplica.options(
            num_replicas=replicas,
            ray_actor_options={"num_cpus": threads},
            max_ongoing_requests=max(4 * max_batch_size, 16),
            logging_config=QUIET,
        ).bind(model, name, max_seq_length, runtime, max_batch_size, max_batch_delay)
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    except BaseException:
        try:
            RayServing("", name, kind, replicas, threads, local).stop()
        except Exception:  # the first error is the one to report
            logger.warning("could not take the application down after the error below", exc_info=True)
        raise
    return RayServing(f"http://{host}:{port}", name, kind, replicas, threads, local)


def serve_on_ray(model, replicas=2, address=None, host="127.0.0.1", port=8000, **options):
    """`start_on_ray`, then serve until SIGINT / SIGTERM; the application (and a local Ray
    instance) goes down at the end, also when the signal comes while the replicas start."""
    stop, started = threading.Event(), threading.Event()

    def on_signal(signum, frame):
        if not started.is_set():  # unwinds start_on_ray, which takes down what it started
            raise SystemExit(128 + signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serving = start_on_ray(model, replicas, address, host, port, **options)
        started.set()
        where = "a local Ray instance" if serving.local else f"the Ray cluster at {address}"
        print(
            f"serving {serving.name}{f' ({serving.kind})' if serving.kind else ''} on {serving.url}: "
            f"POST /v1/predict, POST /predict/{serving.name}, GET /health; {replicas} Ray Serve "
            f"replica(s) x {serving.threads} thread(s) on {where}",
            flush=True,
        )
        try:
            while not stop.wait(1):
                pass
        finally:
            serving.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


PROXY_READY_ENV, PROXY_READY_S = "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", 60


def _init_ray(ray, address, cpus):
    """Join the cluster at `address`, or start a local instance (None): loopback only, no dashboard,
    a small object store, no usage report, Ray's own logs kept in its session folder."""
    if ray.is_initialized():
        return
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    # Ray's own handlers of SIGINT / SIGTERM (a stack dump, then abort) replace this process's:
    # those come back, so that a signal still takes down what was started
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # Serve gives its HTTP proxy 5 s to start, then kills it (and serve.start fails): a new
        # Python process on a loaded 2-core machine takes longer. The processes of this instance
        # inherit the setting; a cluster takes it from `ray start`'s environment (docs/serving.md).
        os.environ.setdefault(PROXY_READY_ENV, str(PROXY_READY_S))
        # Ray's default (token authentication, its token made in ~/.ray), without its notice
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(
            address="local",
            num_cpus=max(cpu_count(), cpus),
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            logging_level=logging.WARNING,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)
