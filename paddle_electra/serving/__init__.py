"""Serving a model over HTTP at production load (`paddle-electra serve MODEL`).

- `model.py`: `ServedModel`, a model's request -> examples -> rows -> outputs -> records, in stages
  so that rows of many requests run as one forward.
- `batcher.py`: `Batcher`, the dynamic batching of one worker (a bounded queue, a short window).
- `metrics.py`: the Prometheus metrics, summed over the worker processes.
- `app.py`: the ASGI app (Starlette) of one worker: /v1/predict, /predict/NAME (PaddleHub's
  protocol), /health, /metrics.
- `server.py`: `serve`, uvicorn with several worker processes, warmed up before they take requests.
- `ray_serve.py`: the same model as Ray Serve replicas, across machines.

This layer sits above training, pipelines and hub, and below the CLI; it never imports paddlehub.
"""
