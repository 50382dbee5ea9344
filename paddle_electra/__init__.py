"""paddle-electra: the ELECTRA family of pretrained models (generator + discriminator) in PaddlePaddle."""

import warnings

from paddle_electra.utils.cpuinfo import prefer_fast_mkl

prefer_fast_mkl()  # before paddle loads MKL: its fast kernels on AMD CPUs (cpuinfo.py)

try:
    with warnings.catch_warnings():  # import-time notices of paddle/jieba (ccache, pkg_resources)
        warnings.simplefilter("ignore")
        import paddle  # noqa: F401  (either wheel provides it: paddlepaddle or paddlepaddle-gpu)
        import paddlenlp.transformers  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "paddle-electra needs PaddlePaddle: pip install paddlepaddle (CPU) or paddlepaddle-gpu (CUDA)"
    ) from e

# The import below must follow prefer_fast_mkl() and the paddle import check above: importing the models
# loads paddle (and with it MKL), so it cannot move to the top of the module (E402 is intended).
from paddle_electra import models  # noqa: E402
from paddle_electra.models import *  # noqa: E402, F403  (the public names: models.__all__)

__version__ = "0.1.0"

__all__ = list(models.__all__)
