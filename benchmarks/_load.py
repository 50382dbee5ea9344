"""A bounded HTTP load generator for loopback servers (bench_serve.py and tests/test_serve.py):
`clients` threads, each with its own keep-alive connection, send the given bodies (each once, in
turn) until all are sent or `deadline` seconds have passed; a request that takes longer than
`timeout` counts as an error. Nothing but 127.0.0.1 is reached."""

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int  # HTTP status; 0: no answer (connection error or time-out)
    seconds: float
    body: object  # the parsed JSON, or the error text
    sent: float = 0.0  # seconds after the load started
    retry_after: str = None  # the Retry-After header, if any
    client: int = 0  # which client (connection) sent it


def post_all(port, path, bodies, clients, timeout=30.0, deadline=600.0, parse=True):
    """[Answer per body] (None for bodies not sent before `deadline`); with `parse` False a 200
    answer's body stays bytes (a load generator's CPU goes to sending, as wrk's does)."""
    answers = [None] * len(bodies)
    lock, cursor = threading.Lock(), [0]
    start = time.perf_counter()

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while time.perf_counter() - start < deadline:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(bodies):
                break
            answers[i] = _post(connection, path, bodies[i], start, parse)
            answers[i].client = index
            if answers[i].status == 0:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline + timeout + 5)
    return answers


def _post(connection, path, body, start, parse):
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    began = time.perf_counter()
    try:
        connection.request("POST", path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read()
        status, retry_after = response.status, response.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as e:
        return Answer(0, time.perf_counter() - began, f"{type(e).__name__}: {e}", began - start)
    seconds = time.perf_counter() - began  # the answer is in: reading it is the client's own time
    if not parse and status == 200:
        return Answer(status, seconds, text, began - start, retry_after)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text.decode("utf-8", "replace")
    return Answer(status, seconds, parsed, began - start, retry_after)


def summary(answers, wall):
    """req/s, p50, p99, max (ms) and errors of the answers given, over `wall` seconds."""
    given = [a for a in answers if a is not None]
    ok = sorted(a.seconds for a in given if a.status == 200)
    if not ok:
        return {"requests": len(given), "errors": len(given), "req_per_s": 0.0}
    return {
        "requests": len(given),
        "errors": sum(a.status != 200 for a in given),
        "req_per_s": round(len(ok) / wall, 1),
        "p50_ms": round(statistics.median(ok) * 1000, 1),
        "p99_ms": round(ok[min(len(ok) - 1, int(len(ok) * 0.99))] * 1000, 1),
        "max_ms": round(ok[-1] * 1000, 1),
    }
