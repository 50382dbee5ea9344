"""The model: config, weights, the generator and discriminator towers, task heads and the tokenizer.

- `configuration.py`: `ElectraConfig` and its checks.
- `weights.py`: reading weight files without running code (safetensors, restricted unpickling).
- `modeling.py`: `ElectraModel`, `ElectraDiscriminator`, `ElectraGenerator`, numerically the original TF code.
- `heads.py`: task heads (sequence / token classification, text matching, question answering,
  multiple choice).
- `tokenizer.py`: `ElectraTokenizer`, BERT WordPiece with the original code's rules.
"""

from paddle_electra.models.configuration import ElectraConfig
from paddle_electra.models.heads import (
    ElectraForMultipleChoice,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTextMatching,
    ElectraForTokenClassification,
)
from paddle_electra.models.modeling import (
    ElectraDiscriminator,
    ElectraGenerator,
    ElectraModel,
    ElectraPretrainedModel,
    sentence_vectors,
)
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.models.weights import LoadError

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
    "ElectraForMultipleChoice",
    "sentence_vectors",
    "LoadError",
]
