"""Serving at load: our server (`paddle-electra serve`) against PaddleHub's own server (`hub serving
start`) and our PaddleHub-app server of before (`paddle-electra hub serve`), on the same installed
module, at 1, 16 and 64 concurrent clients, in the same run.

Module: the real LTP-tiny ELECTRA (3 layers, hidden 256; fetched from PyPI and converted, as
`paddle-electra demo` does) packed with `hub pack --name` and installed with `hub install` into a
temporary HUB_HOME; task None (embeddings), so each answer is PaddleHub's [sentence vector, token
states]. Requests: PaddleHub's protocol, POST /predict/NAME {"data": [[text]]}, one short Chinese
text per request (ChnSentiCorp dev sample sentences cut to at most 32 characters). Every server
listens on 127.0.0.1; the client is benchmarks/_load.py (threads with keep-alive connections), on
the same machine, so client and servers share the cores; the client reads every answer but parses
none (as wrk does), so that its share of the cores goes to sending (one answer per load is parsed
and checked: a PaddleHub envelope with status "000").

Per server and client count: after the server is ready, the first 40 requests are measured on
their own (p99 and max: no stall after ready), then `--requests` requests (at least 20 per client)
after a warm-up of the same size: req/s, p50, p99, max, errors. Each measurement starts on a quiet
machine (other processes under 0.15 cores).

    .venv/bin/python benchmarks/bench_serve.py [--requests 2000] [--workers N]

Prints a markdown table and one JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import describe_cpu, markdown_table, wait_for_quiet  # noqa: E402
from _load import post_all, summary  # noqa: E402

BIN = os.path.dirname(sys.executable)
NAME = "ltp-tiny-serving"
CLIENTS = (1, 16, 64)


def texts():
    path = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "data", "chnsenticorp", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        return [line.split("\t", 1)[1].strip()[:32] for line in f][1:]


def make_module(home):
    """LTP-tiny converted, packed as module NAME and installed under HUB_HOME=home."""
    from paddle_electra_convert.assets import ltp_tiny_dir
    from paddle_electra_convert.hf import convert_hf

    converted = os.path.join(home, "ltp_tiny_paddle")
    convert_hf(ltp_tiny_dir(), converted)
    module = os.path.join(home, "module")
    run(
        [
            os.path.join(BIN, "paddle-electra"),
            "hub",
            "pack",
            "--weights",
            converted,
            "--name",
            NAME,
            "--out",
            module,
        ]
    )
    run([os.path.join(BIN, "hub"), "install", module])


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


SERVERS = {  # --servers key: the server's name in the table
    "ours": "paddle-electra serve",
    "before": "paddle-electra hub serve (before)",
    "paddlehub": "hub serving start (PaddleHub)",
}


def servers(workers, which):
    """{name: command} of the servers `which` (SERVERS keys), in that order."""
    ours = os.path.join(BIN, "paddle-electra")
    argv = {
        "ours": [ours, "serve", NAME] + (["--workers", str(workers)] if workers else []),
        "before": [ours, "hub", "serve", NAME],
        "paddlehub": [os.path.join(BIN, "hub"), "serving", "start", "-m", NAME],
    }
    return {SERVERS[key]: argv[key] for key in which}


def start(argv, port, log):
    flag = ["-p", str(port)] if argv[1] == "serving" else ["--port", str(port)]
    process = subprocess.Popen(argv + flag, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    body = {"data": [["你好"]]}
    while True:
        answer = post_all(port, f"/predict/{NAME}", [body], 1, timeout=60)[0]
        if answer is not None and answer.status == 200:
            return process
        if process.poll() is not None or time.time() > deadline:
            sys.exit(f"{' '.join(argv)} did not start: see {log.name}")
        time.sleep(1)


def measure(port, bodies, clients, count):
    path = f"/predict/{NAME}"
    first = post_all(port, path, bodies[:40], clients, timeout=30, deadline=120)
    first = summary(first, 1.0)
    post_all(port, path, bodies[:count], clients, timeout=30, deadline=300, parse=False)  # warm-up
    wait_for_quiet()
    began = time.perf_counter()
    answers = post_all(port, path, bodies[:count], clients, timeout=30, deadline=300, parse=False)
    result = summary(answers, time.perf_counter() - began)
    check = next((a for a in answers if a is not None and a.status == 200), None)
    if check is None or json.loads(check.body).get("status") != "000":
        sys.exit(f"not a PaddleHub answer: {check}")
    result["first_40_p99_ms"], result["first_40_max_ms"] = first.get("p99_ms"), first.get("max_ms")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per point")
    parser.add_argument("--workers", type=int, help="our server's workers (default: its own)")
    parser.add_argument("--port", type=int, default=18866)
    parser.add_argument(
        "--servers",
        default="ours,before,paddlehub",
        help="which servers, comma-separated, of: ours, before, paddlehub (default all three)",
    )
    parser.add_argument(
        "--clients", default=",".join(map(str, CLIENTS)), help="client counts (default 1,16,64)"
    )
    args = parser.parse_args()
    which = args.servers.split(",")
    if not set(which) <= set(SERVERS):
        parser.error(f"--servers takes a comma-separated list of {', '.join(SERVERS)}, got {args.servers!r}")
    home = tempfile.mkdtemp(prefix="bench-serve-")
    os.environ["HUB_HOME"] = home
    make_module(home)
    sample = texts()
    bodies = [{"data": [[sample[i % len(sample)]]]} for i in range(max(args.requests, 64 * 20))]
    rows, results = [], {}
    counts = [int(c) for c in args.clients.split(",")]
    for name, argv in servers(args.workers, which).items():
        for clients in counts:  # a fresh server per point: the first 40 requests meet a new server
            with open(os.path.join(home, "server.log"), "a") as log:
                process = start(argv, args.port, log)
                try:
                    r = measure(args.port, bodies, clients, max(args.requests, clients * 20))
                finally:
                    process.terminate()
                    process.wait(60)
            results[f"{name} @ {clients}"] = r
            rows.append(
                [
                    name,
                    clients,
                    r["req_per_s"],
                    r.get("p50_ms"),
                    r.get("p99_ms"),
                    r.get("max_ms"),
                    r["errors"],
                ]
                + [r["first_40_max_ms"]]
            )
            print(f"{name} @ {clients} clients: {json.dumps(r)}", file=sys.stderr, flush=True)
    for clients in counts:
        theirs = results.get(f"{SERVERS['paddlehub']} @ {clients}", {}).get("req_per_s")
        ours = results.get(f"{SERVERS['ours']} @ {clients}", {}).get("req_per_s")
        results[f"ratio @ {clients}"] = round(ours / theirs, 2) if theirs and ours else None
    print(f"CPU: {describe_cpu()}; load average after: {os.getloadavg()[0]:.2f}")
    head = ["server", "clients", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "max of first 40 ms"]
    print(markdown_table(head, rows))
    print(
        "ours / PaddleHub serving, req/s: "
        + ", ".join(f"{c} clients {results[f'ratio @ {c}']}x" for c in counts)
    )
    print(json.dumps({"cpu": describe_cpu(), **results}))


if __name__ == "__main__":
    main()
