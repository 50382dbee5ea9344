"""A paddle-electra model as a PaddleHub module: see `summary` below.

Behaviour: paddle_electra.hub.ElectraHubModule. Weights: assets/ (`paddle-electra hub pack`).
"""
from paddlehub.module.module import moduleinfo

from paddle_electra.hub import ElectraHubModule


@moduleinfo(
    name='chinese-electra-180g-base',
    version='1.0.0',
    summary='ELECTRA discriminator (chinese-electra-180g), 12-layer, 768-hidden, 12-heads, 102M parameters',
    author='paddle-electra',
    author_email='',
    type='nlp/semantic_model',
)
class ChineseElectra180gBase(ElectraHubModule):
    """A PaddleHub module (tasks: None, seq-cls, token-cls, text-matching, reading-comprehension)."""
