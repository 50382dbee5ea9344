"""Fast prediction: every predict path runs a model's static export under the faster engine.

- `export.py`: the static export of a model and its cache (`export` for deployment).
- `engines.py`: Paddle Inference, onnxruntime and dygraph, behind one call.
- `predictor.py`: `Predictor`, which picks the engine per CPU and size class.
- `batching.py`: dynamic padding, length buckets, `predict_items`.
"""

from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.export import InferenceError, export, load_model
from paddle_electra.runtime.predictor import BACKENDS, PRECISIONS, Predictor

__all__ = ["Predictor", "export", "load_model", "predict_items", "BACKENDS", "PRECISIONS", "InferenceError"]
