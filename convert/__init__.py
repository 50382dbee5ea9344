"""Converters into paddle-electra model directories (import name: paddle_electra_convert).

- `tf.convert_tf_checkpoint`: original TF1 checkpoints, read without TensorFlow (`tf_checkpoint`).
- `hf.convert_hf`: HF transformers directories, read without torch (`torch_pickle`, safetensors).
- `names`: the one table mapping our parameter names to TF and HF names.
"""

from .common import ConversionError
from .hf import convert_hf
from .tf import convert_tf_checkpoint

__all__ = ["ConversionError", "convert_hf", "convert_tf_checkpoint"]
