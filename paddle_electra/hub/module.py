"""`ElectraHubModule` holds all behaviour of the modules in hub_modules/ (each module.py only names
its model with `@moduleinfo`), drop-in for the official `chinese-electra-base/small` modules:

    module = hub.Module(name="chinese-electra-base", task="seq-cls", label_map={0: "负面", 1: "正面"})

- task: None (embeddings), "seq-cls", "token-cls", "text-matching" (siamese, like the official
  modules), or the new "reading-comprehension", "multiple-choice", "text-regression" and
  "multi-label" (hub/tasks.py: HUB_TASKS).
- Weights come from the module's own `assets/` directory (`paddle-electra hub pack` fills it), or
  from `load_checkpoint`: a file saved by hub.Trainer, or a fine-tuned model directory.
- predict / get_embedding pad each batch only to its longest text and bucket texts by length, so
  results do not depend on batch size; get_embedding returns the sentence vector (mean of the real
  tokens' states) and the states of the real tokens only.
- predict / get_embedding / serving run the static export (runtime.Predictor: the faster of
  onnxruntime and Paddle Inference for this CPU and batch size, made once per weights and cached);
  after training (any forward pass in train mode) or set_state_dict they export the new weights.
  runtime={"backend": "dygraph"} runs the Layer itself.
- `hub.Trainer` works through training_step / validation_step; the paddlenlp Trainer works on
  `module.model` (loss first).
- save_inference_model / export_onnx_model (PaddleHub's export APIs) write the module's model with
  an attention mask input, through runtime.export, under the file names PaddleHub uses.
- `hub serving start -m NAME` serves `predict_method` on every interface (0.0.0.0, PaddleHub's
  choice); `paddle-electra hub serve NAME` serves the same app on 127.0.0.1 unless told otherwise.
  Malformed requests get HTTP 400 and a message (hub/serving.py).
- What each task does: hub/tasks.py.
"""

import inspect
import logging
import os
import shutil
import tempfile

import paddle
from paddlehub.module.module import serving
from paddlehub.module.nlp_module import TransformerModule

from paddle_electra.hub.tasks import HUB_TASKS
from paddle_electra.models.configuration import read_config
from paddle_electra.models.modeling import sentence_vectors
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.models.weights import load_paddle_state
from paddle_electra.runtime.batching import feed, predict_items
from paddle_electra.runtime.export import (
    DEFAULT_OPSET,
    INPUTS,
    PREFIX,
    TEXT_MATCHING_INPUTS,
    export,
    onnx_file,
)
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.sources.paddlehub_modules import check_model_dir
from paddle_electra.sources.pretrained import resolve
from paddle_electra.sources.zoo import MODELS
from paddle_electra.utils.cache import OutputError
from paddle_electra.utils.errors import PaddleElectraError

logger = logging.getLogger(__name__)
TASKS = tuple(HUB_TASKS)  # None (embeddings) and the task names of hub/tasks.py


class RequestError(PaddleElectraError, ValueError):
    """A malformed predict or serving request; served requests get HTTP 400 with this message."""


class ElectraHubModule(paddle.nn.Layer, TransformerModule):
    """Shared behaviour of every paddle-electra PaddleHub module (see the module docstring)."""

    _tasks_supported = [t for t in TASKS if t]

    def __init__(
        self,
        task=None,
        load_checkpoint=None,
        label_map=None,
        num_classes=2,
        suffix=False,
        runtime=None,
        **kwargs,
    ):
        super(ElectraHubModule, self).__init__()
        self.runtime, self._predictors, self._trained = dict(runtime or {}), {}, False
        if task == "sequence_classification":  # the official modules' old name
            task = "seq-cls"
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: choose one of {', '.join(str(t) for t in TASKS)}")
        self.task = task
        self.assets = os.path.join(os.path.dirname(os.path.abspath(inspect.getfile(type(self)))), "assets")
        source = load_checkpoint if load_checkpoint and os.path.isdir(load_checkpoint) else self.assets
        if source == self.assets and not os.path.isdir(self.assets) and getattr(self, "name", None) in MODELS:
            # a zoo module installed without packed weights: its model by name (fetched on first use,
            # then cached)
            source = resolve(self.name)
        config = read_weights_config(source, getattr(self, "name", type(self).__name__))
        self._check_zoo(config)

        adapter = HUB_TASKS[task]
        # a fine-tuned directory's labels (finetune saves id2label), unless label_map says otherwise
        id2label = (
            config.get("id2label") if config.get("architectures", [""])[0] == adapter.head.__name__ else None
        )
        self.label_map = _label_map(label_map or id2label or {i: str(i) for i in range(num_classes)})
        self.num_classes = len(self.label_map)
        self.adapter = adapter(labels=[self.label_map[i] for i in sorted(self.label_map)])
        self.model = self.adapter.model(source, suffix=suffix, **kwargs)
        if load_checkpoint and os.path.isfile(load_checkpoint):
            self.set_state_dict(load_paddle_state(load_checkpoint))  # read without running pickled code
        self.tokenizer = ElectraTokenizer.from_pretrained(source)
        self.eval()
        self.model.register_forward_pre_hook(self._forget_predictors_when_training)

    def _check_zoo(self, config):
        entry = MODELS.get(getattr(self, "name", None))
        if entry is None:
            return
        mismatch = entry.architecture_mismatch(config)
        if mismatch:
            raise RuntimeError(
                f"the weights in {self.assets} are not {entry.name}'s architecture {mismatch}: "
                f"pack {entry.name} weights with "
                "`paddle-electra hub pack --weights DIR --module <this module>`"
            )

    def get_tokenizer(self, *args, **kwargs):
        """The module's tokenizer (a paddlenlp tokenizer with the original ELECTRA basic tokenization)."""
        return self.tokenizer

    @property
    def _encoder(self):
        return self.model if self.task is None else self.model.electra

    def _mask(self, input_ids):
        return (input_ids != self.model.config.pad_token_id).astype("int64")

    def set_state_dict(self, state_dict, *args, **kwargs):
        self._predictors.clear()
        return super(ElectraHubModule, self).set_state_dict(state_dict, *args, **kwargs)

    def _forget_predictors_when_training(self, layer, inputs):
        if layer.training:  # a training step: the weights are about to change
            self._predictors.clear()
            self._trained = True

    def _predictor(self, layer, use_gpu):
        """The Predictor of `layer` (the model or its encoder), made again after training; weights
        trained in this process are exported to a temporary folder, not into the export cache."""
        key = (id(layer), use_gpu)
        if key not in self._predictors:
            options = {"device": "gpu" if use_gpu else "cpu", "cache": not self._trained, **self.runtime}
            self._predictors[key] = Predictor(layer, **options)
        return self._predictors[key]

    def forward(
        self,
        input_ids=None,
        token_type_ids=None,
        attention_mask=None,
        query_input_ids=None,
        query_token_type_ids=None,
        title_input_ids=None,
        title_token_type_ids=None,
        seq_lengths=None,
        labels=None,
        **unused_position_ids,
    ):
        """The official modules' contract: probabilities (hidden states for task None), or
        (probs, loss, metrics) when labels are given. Padding (id 0) is masked out."""
        inputs = dict(
            input_ids=input_ids,
            token_type_ids=token_type_ids,
            attention_mask=attention_mask,
            query_input_ids=query_input_ids,
            query_token_type_ids=query_token_type_ids,
            title_input_ids=title_input_ids,
            title_token_type_ids=title_token_type_ids,
            seq_lengths=seq_lengths,
            labels=labels,
        )
        return self.adapter.forward(self, inputs)

    def _step(self, batch):
        return self.adapter.step(self, batch)

    def training_step(self, batch, batch_idx):
        loss, metrics = self._step(batch)
        return {"loss": loss, "metrics": metrics}

    def validation_step(self, batch, batch_idx):
        loss, metrics = self._step(batch)
        return {"loss": loss, "metrics": metrics}

    # ---- prediction -------------------------------------------------------------------------
    def _check_request(self, data, max_seq_len, batch_size):
        if not isinstance(data, (list, tuple)) or not data:
            raise RequestError(
                "data must be a non-empty list of texts, e.g. [['今天天气很好']] or [['text a', 'text b']]"
            )
        want = self.adapter.items
        for i, item in enumerate(data):
            if (
                not isinstance(item, (list, tuple))
                or len(item) not in want
                or not all(isinstance(t, str) for t in item)
            ):
                shape = " or ".join(f"{n} string(s)" for n in want)
                raise RequestError(f"data[{i}] must be a list of {shape} for task {self.task}, got {item!r}")
            if not all(t.isascii() or _is_utf8(t) for t in item):
                raise RequestError(
                    f"data[{i}] holds a lone surrogate (e.g. '\\ud800'): send valid Unicode text"
                )
        if (
            not isinstance(max_seq_len, int)
            or not 3 <= max_seq_len <= self.model.config.max_position_embeddings
        ):
            raise RequestError(
                f"max_seq_len must be an integer in [3, {self.model.config.max_position_embeddings}], "
                f"got {max_seq_len!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise RequestError(f"batch_size must be a positive integer, got {batch_size!r}")

    def _encode(self, data, max_seq_len):
        """[[text] or [text_a, text_b], ...] -> [{"input_ids": [...], "token_type_ids": [...]}, ...],
        in one batch."""
        enc = self.tokenizer.encode_batch(
            [t[0] for t in data], [t[1] if len(t) > 1 else None for t in data], max_length=max_seq_len
        )
        return [
            {"input_ids": ids, "token_type_ids": types}
            for ids, types in zip(enc["input_ids"], enc["token_type_ids"])
        ]

    def _run(self, items, batch_size, use_gpu, keys=("input_ids", "token_type_ids")):
        """Per-item model outputs with dynamic padding; items hold the id lists under `keys`."""
        return predict_items(self._predictor(self.model, use_gpu), items, batch_size, keys)

    def predict(
        self, data, max_seq_len=128, split_char="\002", batch_size=1, use_gpu=False, return_prob=False
    ):
        """Labels (strings from label_map) per text; per-word labels for token-cls (words split by
        `split_char`, else characters; None for words cut by max_seq_len); answer texts for
        reading-comprehension ([question, context] items); embeddings for task None. With
        return_prob, also the probabilities."""
        self._check_request(data, max_seq_len, batch_size)
        labels, probs = self.adapter.predict(self, data, max_seq_len, split_char, batch_size, use_gpu)
        return (labels, probs) if return_prob and probs is not None else labels

    def get_embedding(self, data, max_seq_len=128, batch_size=1, use_gpu=False):
        """For each text (or pair): [sentence vector (H floats), token states of its real tokens ([n, H])].
        The sentence vector is the mean of the real tokens' final states ([CLS] and [SEP] included)."""
        self._check_request(data, max_seq_len, batch_size)

        def on_batch(batch, outputs):
            hidden = outputs[0]
            vectors = sentence_vectors(hidden, feed(batch)["attention_mask"])
            return [
                [vectors[i].tolist(), hidden[i, : len(item["input_ids"])].tolist()]
                for i, item in enumerate(batch)
            ]

        items = self._encode(data, max_seq_len)
        return predict_items(self._predictor(self._encoder, use_gpu), items, batch_size, on_batch=on_batch)

    # ---- export for deployment (PaddleHub's own export APIs) ---------------------------------
    @property
    def input_spec(self):
        """The inputs of the exported graph, in order, each int64 [batch, length]: input_ids,
        token_type_ids, attention_mask (1 on real tokens, 0 on padding); for text-matching
        query_input_ids, title_input_ids, query_token_type_ids, title_token_type_ids,
        query_attention_mask, title_attention_mask. (PaddleHub's TransformerModule names two
        inputs, without the mask.)"""
        names = TEXT_MATCHING_INPUTS if self.task == "text-matching" else INPUTS
        return [paddle.static.InputSpec([None, None], "int64", name) for name in names]

    def save_inference_model(
        self,
        dirname,
        model_filename=None,
        params_filename=None,
        input_spec=None,
        include_sub_modules=True,
        combined=True,
    ):
        """PaddleHub's export to Paddle Inference, of the module's model (`self.model`: the task's
        head, the encoder for task None) with its current weights, by `runtime.export`. Writes
        <dirname>/<name>.json and <dirname>/<name>.pdiparams, the files PaddleHub's own method
        writes (paddle.jit.save of <dirname>/<name>); other files in `dirname` stay, those two are
        replaced.

        Inputs, in order, int64 [batch, length] (`input_spec`): input_ids, token_type_ids,
        attention_mask (1 on real tokens, 0 on padding), so a padded batch gives each text's own
        result; text-matching: query_input_ids, title_input_ids, query_token_type_ids,
        title_token_type_ids, query_attention_mask, title_attention_mask. Outputs are the model's:
        logits [batch, classes] (seq-cls, text-matching; their softmax is predict's
        probabilities), [batch, length, classes] (token-cls), final hidden states
        [batch, length, hidden] (task None), the answer-span beam (reading-comprehension:
        start_top_log_probs, start_top_index, end_top_log_probs, end_top_index, no_answer_logit).

        model_filename, params_filename, include_sub_modules and combined are accepted and ignored,
        as PaddleHub ignores them for a Layer module (one combined parameter file; no sub modules);
        `input_spec` is ignored with a warning (the inputs above are the ones that give the
        module's results). Returns the paths written."""
        return self._export_files(dirname, input_spec, onnx=False)

    def export_onnx_model(self, dirname, input_spec=None, include_sub_modules=True, **kwargs):
        """PaddleHub's export to ONNX, of the same graph as `save_inference_model` (same inputs in
        the same order, same outputs), converted by paddle2onnx (`runtime.export.onnx_file`):
        writes <dirname>/<name>.onnx, the file PaddleHub's own method writes.

        `opset_version` (default 14) is passed to paddle2onnx (which raises it where an operator
        needs a newer one, as under PaddleHub's method); other keyword options of
        paddle.onnx.export are ignored with a warning, as are `input_spec` and
        `include_sub_modules` (no sub modules). Returns the paths written."""
        opset_version = kwargs.pop("opset_version", DEFAULT_OPSET)
        if kwargs:
            logger.warning("export_onnx_model ignores %s", ", ".join(sorted(kwargs)))
        return self._export_files(dirname, input_spec, onnx=True, opset_version=opset_version)

    def _export_files(self, dirname, input_spec, onnx, opset_version=DEFAULT_OPSET):
        """Export `self.model` (runtime.export, one paddle.jit.save) into a folder inside
        `dirname`, then move its files in under the module's name: <name>.json + .pdiparams, or
        <name>.onnx."""
        if input_spec is not None:
            logger.warning(
                "input_spec is ignored: the exported graph takes %s",
                ", ".join(spec.name for spec in self.input_spec),
            )
        if not isinstance(dirname, (str, os.PathLike)) or not str(dirname):
            raise OutputError(f"dirname must be a directory path, got {dirname!r}")
        dirname = os.fspath(dirname)
        if os.path.lexists(dirname) and not os.path.isdir(dirname):
            raise OutputError(f"{dirname} exists and is not a directory: pass a directory to export into")
        try:
            os.makedirs(dirname, exist_ok=True)
            work = tempfile.mkdtemp(prefix=".export-", dir=dirname)
        except OSError as e:
            raise OutputError(
                f"cannot write into {dirname} ({e.strerror}): choose another directory"
            ) from None
        name = getattr(self, "name", None) or type(self).__name__
        try:
            exported = export(self.model, os.path.join(work, "export"), onnx=False)
            if onnx:
                files = {onnx_file(exported, opset_version=opset_version): name + ".onnx"}
            else:
                files = {
                    os.path.join(exported, f): name + f[len(PREFIX) :]
                    for f in sorted(os.listdir(exported))
                    if f.startswith(PREFIX + ".")
                }
            written = []
            for source, target in files.items():
                os.replace(source, os.path.join(dirname, target))
                written.append(os.path.join(dirname, target))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        logger.info(
            "exported %s (inputs %s) to %s", name, ", ".join(s.name for s in self.input_spec), dirname
        )
        return written

    @property
    def serving_func_name(self):
        """The method PaddleHub's serving runs. Only a serving process asks (`hub serving start`,
        `paddle-electra hub serve`): our request checks go on PaddleHub's app then (hub/serving.py)."""
        from paddle_electra.hub.serving import check_served_requests

        check_served_requests()
        return super(ElectraHubModule, self).serving_func_name

    @serving
    def predict_method(self, data, max_seq_len=128, batch_size=1, use_gpu=False):
        """`hub serving` entry: predict's results (embeddings for task None)."""
        return self.predict(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)


def _label_map(labels):
    """{id: label} from a label_map ({0: "负面", ...}, or a config's {"0": ...}) or a label2id
    ({"负面": 0, ...})."""
    if (
        labels
        and all(isinstance(v, int) for v in labels.values())
        and not all(str(k).lstrip("-").isdigit() for k in labels)
    ):
        labels = {v: k for k, v in labels.items()}
    try:
        return {int(k): v for k, v in labels.items()}
    except (TypeError, ValueError):
        raise ValueError(
            f"label_map must map class ids to labels, e.g. {{0: 'negative', 1: 'positive'}}, got {labels!r}"
        ) from None


def _is_utf8(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def read_weights_config(directory, name):
    """The config.json of a complete model directory (a module's assets/), else ModuleError naming
    `hub pack`."""
    return read_config(os.path.join(check_model_dir(directory, name), "config.json"))
