"""A paddle-electra model as a PaddleHub module: see `summary` below.

Behaviour: paddle_electra.hub.ElectraHubModule. Weights: assets/ (`paddle-electra hub pack`).
"""
from paddlehub.module.module import moduleinfo

from paddle_electra.hub import ElectraHubModule


@moduleinfo(
    name='chinese-electra-180g-small-ex',
    version='1.0.0',
    summary='ELECTRA discriminator (chinese-electra-180g), 24-layer, 256-hidden, 4-heads, 25M parameters',
    author='paddle-electra',
    author_email='',
    type='nlp/semantic_model',
)
class ChineseElectra180gSmallEx(ElectraHubModule):
    """A PaddleHub module (tasks: None, seq-cls, token-cls, text-matching, reading-comprehension)."""
