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

# The imports below must follow prefer_fast_mkl() and the paddle import check above: importing the models
# loads paddle (and with it MKL), so they cannot move to the top of the module (E402 is intended).
from paddle_electra.models.configuration import ElectraConfig  # noqa: E402
from paddle_electra.models.heads import (  # noqa: E402
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTextMatching,
    ElectraForTokenClassification,
)
from paddle_electra.models.modeling import (  # noqa: E402
    ElectraDiscriminator,
    ElectraGenerator,
    ElectraModel,
    ElectraPretrainedModel,
    sentence_vectors,
)
from paddle_electra.models.tokenizer import ElectraTokenizer  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ElectraConfig",
    "ElectraModel",
    "ElectraDiscriminator",
    "ElectraGenerator",
    "ElectraPretrainedModel",
    "ElectraTokenizer",
    "ElectraForSequenceClassification",
    "ElectraForTokenClassification",
    "ElectraForTextMatching",
    "ElectraForQuestionAnswering",
    "sentence_vectors",
]
