"""Name -> files: where a model's files come from.

- `zoo.py`: every released ELECTRA model by name, with its exact architecture and Hub repos.
- `pretrained.py`: a name (zoo name or Hugging Face Hub repo id) -> a converted model directory in the
  cache. Its one lazy hop into the converter (`paddle_electra_convert.download`) turns a fetched repo
  into a model directory on first use.
- `fetch.py`: the only code that touches the network (the Hugging Face Hub and its mirrors, PyPI).
- `paddlehub_modules.py`: installed PaddleHub modules' weights, read from disk.
"""

from paddle_electra.sources.fetch import FetchError
from paddle_electra.sources.pretrained import hf_hub_repo, is_model_name, resolve
from paddle_electra.sources.zoo import MODELS, ZooModel, get_model, register

__all__ = [
    "MODELS",
    "ZooModel",
    "get_model",
    "register",
    "resolve",
    "is_model_name",
    "hf_hub_repo",
    "FetchError",
]
