"""A paddle-electra model as a PaddleHub module: see `summary` below.

Behaviour: paddle_electra.hub.ElectraHubModule. Weights: assets/ (`paddle-electra hub pack`).
"""
from paddlehub.module.module import moduleinfo

from paddle_electra.hub import ElectraHubModule


@moduleinfo(
    name='koelectra-small-v3',
    version='1.0.0',
    summary='ELECTRA discriminator (koelectra), 12-layer, 256-hidden, 4-heads, 14M parameters',
    author='paddle-electra',
    author_email='',
    type='nlp/semantic_model',
)
class KoelectraSmallV3(ElectraHubModule):
    """A PaddleHub module (tasks: None, seq-cls, token-cls, text-matching, reading-comprehension)."""
