"""`serve`: a model over HTTP at production load (paddle_electra/serving; docs/serving.md)."""

from paddle_electra.cli.common import UsageError
from paddle_electra.cli.options import add_runtime_options, at_least, runtime_options

DESCRIPTION = (
    "Serve a fine-tuned model (its task: labels, tags with offsets, answers, ...), a bare encoder "
    "(embeddings), a model name or an installed PaddleHub module, on uvicorn with several worker "
    "processes. Requests that arrive within --max-batch-delay run together as one forward (up to "
    '--max-batch-size rows, grouped by length). POST /v1/predict {"texts": [...]} (question answering: '
    '{"questions": [{"question", "context"}]}, multiple choice: {"items": [{"context", "question", '
    '"choices"}]}); POST /predict/NAME {"data": [[text], ...]} as PaddleHub serving; GET /health; '
    "GET /metrics (Prometheus). Workers take requests once warmed up; past --max-queue waiting rows, 503 "
    "with Retry-After; SIGTERM lets requests in flight finish. --ray-address serves Ray Serve replicas "
    "instead (across machines)."
)


def add_serve(sub):
    sv = sub.add_parser(
        "serve", help="serve a model over HTTP (dynamic batching, workers)", description=DESCRIPTION
    )
    sv.add_argument(
        "model", help="model directory, model name (zoo / Hub repo id) or installed hub module name"
    )
    sv.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)"
    )
    sv.add_argument("--port", type=int, default=8866, help="port (default 8866, as PaddleHub serving)")
    sv.add_argument(
        "--workers",
        type=at_least(1),
        help="worker processes, each with its own model (default: one per core, at most 8, with the "
        "cores divided among them; with --threads, cores / threads)",
    )
    sv.add_argument(
        "--max-seq-length", type=at_least(8), help="tokens per text (default: the training length, else 128)"
    )
    sv.add_argument(
        "--max-batch-size", type=at_least(1), default=32, help="rows per forward, at most (default 32)"
    )
    sv.add_argument(
        "--max-batch-delay",
        type=float,
        default=5.0,
        help="milliseconds a batch waits for more requests after its first (default 5)",
    )
    sv.add_argument(
        "--max-queue",
        type=at_least(1),
        default=1024,
        help="rows waiting per worker, at most; past it: 503 with Retry-After (default 1024)",
    )
    sv.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds requests in flight get to finish after SIGTERM (default 30)",
    )
    ray = sv.add_argument_group("Ray Serve (across machines)")
    ray.add_argument(
        "--ray-address",
        help="serve Ray Serve replicas instead: 'local' starts a Ray instance on this machine, 'auto' "
        "joins the cluster of `ray start`, or ray://HOST:PORT",
    )
    ray.add_argument("--replicas", type=at_least(1), default=2, help="Ray Serve replicas (default 2)")
    add_runtime_options(sv)
    sv.set_defaults(func=_serve)


def _serve(args):
    if args.max_batch_delay < 0:
        raise UsageError(f"--max-batch-delay must be 0 or more milliseconds, not {args.max_batch_delay}")
    runtime = runtime_options(args)
    threads = runtime.pop("threads")
    batching = {
        "max_seq_length": args.max_seq_length,
        "runtime": runtime,
        "max_batch_size": args.max_batch_size,
        "max_batch_delay": args.max_batch_delay / 1000,
    }
    if args.ray_address:
        from paddle_electra.serving.ray_serve import serve_on_ray

        address = None if args.ray_address == "local" else args.ray_address
        serve_on_ray(args.model, args.replicas, address, args.host, args.port, threads=threads, **batching)
        return
    from paddle_electra.serving.server import serve

    serve(
        args.model,
        args.host,
        args.port,
        workers=args.workers,
        threads=threads,
        max_queue=args.max_queue,
        graceful_timeout=args.graceful_timeout,
        **batching,
    )
