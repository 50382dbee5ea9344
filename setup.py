"""paddle-electra: ELECTRA generator + discriminator models, converters and PaddleHub modules for Paddle.

PaddlePaddle itself is not a hard requirement, so that a user with `paddlepaddle-gpu` keeps it:
install `paddle-electra[cpu]` or `paddle-electra[gpu]`, or bring your own wheel. The pinned, tested
environment is requirements/requirements-lock.txt.
"""

from setuptools import setup

setup(
    name="paddle-electra",
    version="0.1.0",
    description=(
        "ELECTRA (Chinese-ELECTRA, KoELECTRA, Google ELECTRA) in PaddlePaddle: "
        "models, converters, hub modules"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.8",
    # The converters live in the top-level folder convert/ and import as paddle_electra_convert:
    # they use the models in paddle_electra, which never import them.
    packages=[
        "paddle_electra",
        *(
            f"paddle_electra.{sub}"
            for sub in (
                "utils",
                "sources",
                "models",
                "tasks",
                "runtime",
                "training",
                "pipelines",
                "hub",
                "serving",
                "cli",
            )
        ),
        "paddle_electra_convert",
    ],
    package_dir={"paddle_electra_convert": "convert"},
    # fused_cpu.c: the fused training kernels, compiled with the machine's C compiler on first use
    package_data={
        "paddle_electra.training": ["fused_cpu.c"],
        "paddle_electra.pipelines": ["data/pycorrector/*"],
    },
    # tokenizers: the Rust fast path of ElectraTokenizer.encode_batch (without it, the Python tokenizer runs)
    install_requires=[
        "paddlenlp>=2.8",
        "numpy",
        "safetensors",
        "crc32c",
        "tqdm",
        "nltk",
        "seqeval",
        "tokenizers>=0.20",
    ],
    extras_require={
        "cpu": ["paddlepaddle>=3.0"],
        "gpu": ["paddlepaddle-gpu>=3.0"],
        "hub": ["paddlehub>=2.4"],
        "x2paddle": ["x2paddle>=1.6"],
        # the second CPU engine auto times against Paddle Inference, and precision int8
        # (without it, Paddle Inference runs every batch)
        "onnx": ["paddle2onnx>=2.0", "onnxruntime>=1.17", "ml-dtypes"],
        # `paddle-electra serve`: the HTTP server (uvicorn + starlette, orjson), its Prometheus metrics, and
        # replicas on a Ray cluster (Ray Serve, --ray-address / --replicas)
        "serve": ["ray[serve]>=2.60", "prometheus-client", "uvicorn", "starlette", "orjson"],
    },
    entry_points={"console_scripts": ["paddle-electra=paddle_electra.cli:main"]},
)
