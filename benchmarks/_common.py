"""Helpers shared by the benchmarks. Standard library only (imported from both Python environments)."""

import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN_PY = sys.executable  # the project's environment: run the benchmarks with its python
# The reference environment (torch + transformers + tensorflow, no paddle), set up from
# scripts/requirements-reference.txt: its interpreter comes from this variable (see ref_python()).
REF_PYTHON_ENV = "PADDLE_ELECTRA_REF_PYTHON"
# Another process may run (tests): a measurement during which others used more cores is redone.
# BENCH_QUIET_LIMIT raises the limit where others keep part of the machine busy all the time.
QUIET_LIMIT = float(os.environ.get("BENCH_QUIET_LIMIT", "0.15"))
# The environment before anything imported paddle (which sets OMP_NUM_THREADS=1 in os.environ):
# subprocesses get this one, so each framework starts with its own default threading.
CLEAN_ENV = dict(os.environ)

# BERT-style configs (the keys google-research/electra and HF ElectraConfig read).
_COMMON = dict(
    vocab_size=21128,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=2,
    initializer_range=0.02,
)
ARCHS = {  # chinese-electra-{small,base,large}: discriminator, and the base and large generators
    "small": dict(
        _COMMON,
        embedding_size=128,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=12,
        num_attention_heads=4,
    ),
    "base": dict(
        _COMMON,
        embedding_size=768,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
    ),
    "base-generator": dict(
        _COMMON,
        embedding_size=768,
        hidden_size=192,
        intermediate_size=768,
        num_hidden_layers=12,
        num_attention_heads=3,
    ),
    "large": dict(
        _COMMON,
        embedding_size=1024,
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
    ),
    "large-generator": dict(
        _COMMON,
        embedding_size=1024,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=24,
        num_attention_heads=4,
    ),
}


def describe_cpu():
    """The CPU every table was measured on: model, vendor, AVX2 / AVX-512 / AMX flags, cores
    (paddle_electra/utils/cpuinfo.py, loaded by path: it needs neither paddle nor the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_cpuinfo", os.path.join(ROOT, "paddle_electra", "utils", "cpuinfo.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.describe()


def paddle_classifier_step(model_dir):
    """The training step both step benchmarks time: LTP-tiny's classifier, AdamW with clipping, one
    fixed 32 x 128 batch of random ids. Returns (model, optimizer, ids, labels); paddle is imported here."""
    import numpy as np
    import paddle

    from paddle_electra.models.heads import ElectraForSequenceClassification

    paddle.seed(0)
    model = ElectraForSequenceClassification.from_pretrained(model_dir, num_labels=2, new_head=True)
    model.train()
    optimizer = paddle.optimizer.AdamW(
        learning_rate=1e-4, parameters=model.parameters(), grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0)
    )
    rng = np.random.RandomState(0)
    ids = paddle.to_tensor(rng.randint(100, 21000, (32, 128)).astype("int64"))
    labels = paddle.to_tensor(rng.randint(0, 2, (32,)).astype("int64"))
    return model, optimizer, ids, labels


def median(values):
    return statistics.median(values)


def run_measured(cmd, env=None):
    """Run `cmd`; return (wall seconds, peak RSS in MiB, stdout). Raises on a non-zero exit."""
    env = dict(CLEAN_ENV, **(env or {}))
    if os.path.exists("/usr/bin/time"):
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if p.returncode:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
            )
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
        return wall, rss_kb / 1024, p.stdout
    import psutil  # fallback: poll the RSS of the process tree

    start, peak = time.perf_counter(), 0
    proc = psutil.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-4000:]}")
    return time.perf_counter() - start, peak / 2**20, out


def run_worker(cmd, env=None):
    """Run a benchmark worker (`cmd`, environment CLEAN_ENV + `env`); return the last JSON line it
    printed. Its notes about measurements redone for noise are passed on to stderr."""
    p = subprocess.run(cmd, env=dict(CLEAN_ENV, **(env or {})), capture_output=True, text=True)
    for line in p.stderr.splitlines():
        if line.startswith(("note:", "warning:")):
            print(f"  {line}", file=sys.stderr)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
        )
    return json.loads(lines[-1])


def _busy_cpu_s():
    """CPU seconds all processes on the machine have used (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _own_cpu_s():
    """CPU seconds of this process and of its children that have been waited for."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def wait_for_quiet(limit=QUIET_LIMIT, max_wait_s=900):
    """Wait until the other processes use less than `limit` cores over a 1 s window."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait_s:
        busy, own = _busy_cpu_s(), _own_cpu_s()
        time.sleep(1)
        if (_busy_cpu_s() - busy) - (_own_cpu_s() - own) < limit:
            return
    print(f"warning: machine still busy after {max_wait_s} s, measuring anyway", file=sys.stderr)


def with_foreign_cores(fn):
    """(fn()'s result, the cores other processes used on average while it ran)."""
    busy, own, start = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
    result = fn()
    return result, round(((_busy_cpu_s() - busy) - (_own_cpu_s() - own)) / (time.perf_counter() - start), 2)


def quietly(fn, limit=QUIET_LIMIT, tries=6):
    """fn() measured while other processes used at most `limit` cores on average; otherwise the
    measurement is thrown away and redone once the machine is quiet again. Returns fn()'s result."""
    for attempt in range(tries):
        if attempt:  # random back-off: two benchmarks waiting on each other must not restart in step
            time.sleep(random.uniform(0, 5))
        wait_for_quiet(limit)
        result, foreign = with_foreign_cores(fn)
        if foreign <= limit:
            return result
        print(
            f"note: other processes used {foreign:.2f} cores during a measurement: repeating it",
            file=sys.stderr,
        )
    print("warning: could not get a quiet measurement, keeping the last one", file=sys.stderr)
    return result


def time_forward(fn, n_tokens, reps, warmup=2, budget_s=1.0):
    """Median tokens/s of `fn()` over `reps` quiet repetitions (after `warmup` calls), and the median
    CPU cores it used (CPU time / wall time). One repetition calls `fn` enough times to last about
    `budget_s` (at least once)."""
    for _ in range(warmup):
        start = time.perf_counter()
        fn()
        one = time.perf_counter() - start
    iters = max(1, round(budget_s / one))

    def rep():
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(iters):
            fn()
        wall = time.perf_counter() - start
        return n_tokens * iters / wall, (time.process_time() - cpu) / wall

    rates, cores = zip(*[quietly(rep) for _ in range(reps)])
    return list(rates), median(cores)


def runs_table(labels, runs, what, peer):
    """Markdown table of interleaved runs: runs = {side: [(value, other processes' cores)]},
    labels = {side: label}; each side's values, their median and its ratio to side `peer`."""
    med = {side: median([x for x, _ in r]) for side, r in runs.items()}
    return markdown_table(
        ["side", f"{what}, per run", "median", f"/ {labels[peer]}", "other processes' cores"],
        [
            [
                labels[side],
                " / ".join(f"{x:.1f}" for x, _ in r),
                f"{med[side]:.1f}",
                f"{med[side] / med[peer]:.2f}",
                " / ".join(f"{f:.2f}" for _, f in r),
            ]
            for side, r in runs.items()
        ],
    )


def parse_shapes(spec):
    """'1x128:5,32x128:3' -> [(1, 128, 5), (32, 128, 3)]: batch, length, repetitions."""
    out = []
    for item in spec.split(","):
        shape, reps = item.split(":")
        b, length = shape.split("x")
        out.append((int(b), int(length), int(reps)))
    return out


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def require(path, hint):
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found: {hint}")


def ref_python():
    """The reference environment's python, from $PADDLE_ELECTRA_REF_PYTHON; exits with one line when unset."""
    path = os.environ.get(REF_PYTHON_ENV)
    if not path:
        sys.exit(
            f"error: {REF_PYTHON_ENV} is not set: point it at the python of a reference environment "
            "built from scripts/requirements-reference.txt (torch, transformers, tensorflow)"
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(
            f"error: {REF_PYTHON_ENV}={path} is not an executable file: "
            "point it at the reference environment's python"
        )
    return path


def need_data(path, option, what):
    """A dataset path given with `option`: exits with one line when it is missing or absent."""
    if not path:
        sys.exit(f"error: {option} is required: {what}")
    require(path, f"{option} must point at {what}")
    return path


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
