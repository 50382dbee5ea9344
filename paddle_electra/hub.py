"""The PaddleHub layer: the only module of paddle-electra that imports paddlehub.

`ElectraHubModule` holds all behaviour of the modules in hub_modules/ (each module.py only names
its model with `@moduleinfo`), drop-in for the official `chinese-electra-base/small` modules:

    module = hub.Module(name="chinese-electra-base", task="seq-cls", label_map={0: "负面", 1: "正面"})

- task: None (embeddings), "seq-cls", "token-cls", "text-matching" (siamese, like the official
  modules) or "reading-comprehension" (new: [question, context] -> answer span).
- Weights come from the module's own `assets/` directory (`paddle-electra hub pack` fills it), or
  from `load_checkpoint`: a file saved by hub.Trainer, or a fine-tuned model directory.
- predict / get_embedding pad each batch only to its longest text and bucket texts by length, so
  results do not depend on batch size; get_embedding returns the sentence vector (mean of the real
  tokens' states) and the states of the real tokens only.
- predict / get_embedding / serving run the static export (inference.Predictor: the faster of
  onnxruntime and Paddle Inference for this CPU and batch size, made once per weights and cached); after training
  (any forward pass in train mode) or set_state_dict they export the new weights.
  runtime={"backend": "dygraph"} runs the Layer itself.
- `hub.Trainer` works through training_step / validation_step; the paddlenlp Trainer works on
  `module.model` (loss first).
- `hub serving start -m NAME` serves `predict_method` on every interface (0.0.0.0, PaddleHub's
  choice); `paddle-electra hub serve NAME` serves the same app on 127.0.0.1 unless told otherwise.
  Malformed requests get HTTP 400 and a message (413 beyond MAX_REQUEST_BYTES); at most
  MAX_REQUEST_TEXTS items per request.
"""
import inspect
import os
import re
import shutil

import paddle
from paddlehub.module.module import serving
from paddlehub.module.nlp_module import TransformerModule

from .batching import feed
from .cache import staged
from .configuration import read_config
from .inference import Predictor, load_model, predict_items
from .modeling import sentence_vectors
from .pretrained import resolve
from .tasks import HUB_KINDS
from .tokenizer import ElectraTokenizer
from .weights import load_paddle_state
from .zoo import MODELS

TASKS = tuple(HUB_KINDS)  # None, seq-cls, token-cls, text-matching, reading-comprehension
WEIGHT_FILES = ("config.json", "vocab.txt", "tokenizer_config.json")


class RequestError(ValueError):
    """A malformed predict or serving request; served requests get HTTP 400 with this message."""


class ElectraHubModule(paddle.nn.Layer, TransformerModule):
    """Shared behaviour of every paddle-electra PaddleHub module (see the module docstring)."""

    _tasks_supported = [t for t in TASKS if t]

    def __init__(self, task=None, load_checkpoint=None, label_map=None, num_classes=2, suffix=False, runtime=None, **kwargs):
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
            # a zoo module installed without packed weights: its model by name (fetched on first use, then cached)
            source = resolve(self.name)
        config = _read_weights_config(source, getattr(self, "name", type(self).__name__))
        self._check_zoo(config)

        kind = HUB_KINDS[task]
        # a fine-tuned directory's labels (finetune saves id2label), unless label_map says otherwise
        id2label = config.get("id2label") if config.get("architectures", [""])[0] == kind.head.__name__ else None
        self.label_map = _label_map(label_map or id2label or {i: str(i) for i in range(num_classes)})
        self.num_classes = len(self.label_map)
        self.kind = kind(labels=[self.label_map[i] for i in sorted(self.label_map)])
        self.model = self.kind.hub_model(source, suffix=suffix, **kwargs)
        if load_checkpoint and os.path.isfile(load_checkpoint):
            self.set_state_dict(load_paddle_state(load_checkpoint))  # read without running pickled code
        self.tokenizer = ElectraTokenizer.from_pretrained(source)
        self.eval()
        self.model.register_forward_pre_hook(self._forget_predictors_when_training)
        _answer_bad_requests_with_400()

    def _check_zoo(self, config):
        entry = MODELS.get(getattr(self, "name", None))
        if entry is None:
            return
        expected = entry.config("discriminator").architecture()
        found = {k: config.get(k) for k in expected}
        if found != expected:
            raise RuntimeError(
                f"the weights in {self.assets} are not {entry.name}'s architecture ({found} != {expected}): "
                f"pack {entry.name} weights with `paddle-electra hub pack --weights DIR --module <this module>`"
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

    def forward(self, input_ids=None, token_type_ids=None, attention_mask=None, query_input_ids=None,
                query_token_type_ids=None, title_input_ids=None, title_token_type_ids=None, seq_lengths=None,
                labels=None, **unused_position_ids):
        """The official modules' contract: probabilities (hidden states for task None), or
        (probs, loss, metrics) when labels are given. Padding (id 0) is masked out."""
        inputs = dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                      query_input_ids=query_input_ids, query_token_type_ids=query_token_type_ids, title_input_ids=title_input_ids,
                      title_token_type_ids=title_token_type_ids, seq_lengths=seq_lengths, labels=labels)
        return self.kind.hub_forward(self, inputs)

    def _step(self, batch):
        return self.kind.hub_step(self, batch)

    def training_step(self, batch, batch_idx):
        loss, metrics = self._step(batch)
        return {"loss": loss, "metrics": metrics}

    def validation_step(self, batch, batch_idx):
        loss, metrics = self._step(batch)
        return {"loss": loss, "metrics": metrics}

    # ---- prediction -------------------------------------------------------------------------
    def _check_request(self, data, max_seq_len, batch_size):
        if not isinstance(data, (list, tuple)) or not data:
            raise RequestError("data must be a non-empty list of texts, e.g. [['今天天气很好']] or [['text a', 'text b']]")
        want = self.kind.hub_items
        for i, item in enumerate(data):
            if not isinstance(item, (list, tuple)) or len(item) not in want or not all(isinstance(t, str) for t in item):
                shape = " or ".join(f"{n} string(s)" for n in want)
                raise RequestError(f"data[{i}] must be a list of {shape} for task {self.task}, got {item!r}")
            if not all(t.isascii() or _is_utf8(t) for t in item):
                raise RequestError(f"data[{i}] holds a lone surrogate (e.g. '\\ud800'): send valid Unicode text")
        if not isinstance(max_seq_len, int) or not 3 <= max_seq_len <= self.model.config.max_position_embeddings:
            raise RequestError(f"max_seq_len must be an integer in [3, {self.model.config.max_position_embeddings}], got {max_seq_len!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise RequestError(f"batch_size must be a positive integer, got {batch_size!r}")

    def _encode(self, data, max_seq_len):
        """[[text] or [text_a, text_b], ...] -> [{"input_ids": [...], "token_type_ids": [...]}, ...], in one batch."""
        enc = self.tokenizer.encode_batch([t[0] for t in data], [t[1] if len(t) > 1 else None for t in data], max_length=max_seq_len)
        return [{"input_ids": ids, "token_type_ids": types} for ids, types in zip(enc["input_ids"], enc["token_type_ids"])]

    def _run(self, items, batch_size, use_gpu, keys=("input_ids", "token_type_ids")):
        """Per-item model outputs with dynamic padding; items hold the id lists under `keys`."""
        return predict_items(self._predictor(self.model, use_gpu), items, batch_size, keys)

    def predict(self, data, max_seq_len=128, split_char="\002", batch_size=1, use_gpu=False, return_prob=False):
        """Labels (strings from label_map) per text; per-word labels for token-cls (words split by
        `split_char`, else characters; None for words cut by max_seq_len); answer texts for
        reading-comprehension ([question, context] items); embeddings for task None. With
        return_prob, also the probabilities."""
        self._check_request(data, max_seq_len, batch_size)
        labels, probs = self.kind.hub_predict(self, data, max_seq_len, split_char, batch_size, use_gpu)
        return (labels, probs) if return_prob and probs is not None else labels

    def get_embedding(self, data, max_seq_len=128, batch_size=1, use_gpu=False):
        """For each text (or pair): [sentence vector (H floats), token states of its real tokens ([n, H])].
        The sentence vector is the mean of the real tokens' final states ([CLS] and [SEP] included)."""
        self._check_request(data, max_seq_len, batch_size)

        def on_batch(batch, outputs):
            hidden = outputs[0]
            vectors = sentence_vectors(hidden, feed(batch)["attention_mask"])
            return [[vectors[i].tolist(), hidden[i, : len(item["input_ids"])].tolist()] for i, item in enumerate(batch)]

        items = self._encode(data, max_seq_len)
        return predict_items(self._predictor(self._encoder, use_gpu), items, batch_size, on_batch=on_batch)

    @serving
    def predict_method(self, data, max_seq_len=128, batch_size=1, use_gpu=False):
        """`hub serving` entry: predict's results (embeddings for task None)."""
        return self.predict(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)


def _label_map(labels):
    """{id: label} from a label_map ({0: "负面", ...}, or a config's {"0": ...}) or a label2id ({"负面": 0, ...})."""
    if labels and all(isinstance(v, int) for v in labels.values()) and not all(str(k).lstrip("-").isdigit() for k in labels):
        labels = {v: k for k, v in labels.items()}
    try:
        return {int(k): v for k, v in labels.items()}
    except (TypeError, ValueError):
        raise ValueError(f"label_map must map class ids to labels, e.g. {{0: 'negative', 1: 'positive'}}, got {labels!r}") from None


def _is_utf8(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _read_weights_config(directory, name):
    missing = [f for f in WEIGHT_FILES if not os.path.isfile(os.path.join(directory, f))]
    if missing or not any(os.path.isfile(os.path.join(directory, f)) for f in ("model.safetensors", "model_state.pdparams")):
        raise RuntimeError(
            f"module {name} has no weights in {directory}: run `paddle-electra hub pack --weights CONVERTED_DIR --module "
            f"<this module's directory>` (CONVERTED_DIR from `paddle-electra convert`)"
        )
    return read_config(os.path.join(directory, "config.json"))


def installed_module_weights(name):
    """The weights directory (assets/) of an installed module, so a hub name can be fine-tuned."""
    from paddlehub.module.manager import LocalModuleManager

    module_cls = LocalModuleManager().search(name)
    if module_cls is None:
        raise ValueError(f"{name!r} is neither a model directory nor an installed PaddleHub module: pass a directory, or `hub install` it")
    assets = os.path.join(module_cls.directory, "assets")
    _read_weights_config(assets, name)
    return assets


_SERVING_KEYS = {"data", "max_seq_len", "batch_size", "use_gpu"}
MAX_REQUEST_BYTES = 4 << 20  # a served request's JSON body
MAX_REQUEST_TEXTS = 1024  # items in a served request's `data`


def _answer_bad_requests_with_400():
    """PaddleHub's server answers every failure with HTTP 200 and status "101", a body that is not
    a JSON object (`null`) with 200 and "112", and JSON nested too deep with a 500 HTML page. Patch
    its Flask app and predict function once so that a malformed request to one of our modules gets
    HTTP 400 (413 when larger than MAX_REQUEST_BYTES) with the reason, as JSON."""
    from paddlehub.serving import app_compat

    original = app_compat.predict_v2
    if getattr(original, "paddle_electra", False):
        return

    def predict_v2(module_info, inputs):
        module = module_info.get("module")
        if isinstance(module, ElectraHubModule):
            try:
                if not isinstance(inputs, dict) or set(inputs) - _SERVING_KEYS or "data" not in inputs:
                    raise RequestError(f"the JSON body must be an object with 'data' and optionally {sorted(_SERVING_KEYS - {'data'})}")
                if isinstance(inputs["data"], list) and len(inputs["data"]) > MAX_REQUEST_TEXTS:
                    raise RequestError(f"at most {MAX_REQUEST_TEXTS} items per request, got {len(inputs['data'])}: split the request")
                module._check_request(inputs["data"], inputs.get("max_seq_len", 128), inputs.get("batch_size", 1))
            except RequestError as e:
                return app_compat.package_result("400", str(e), ""), 400
        return original(module_info, inputs)

    class Flask(app_compat.Flask):
        """PaddleHub's app (made after the modules, so this class is in place), with the body of
        requests to our modules read and checked before PaddleHub reads it."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
            self.before_request(_check_served_body)

    predict_v2.paddle_electra = True
    app_compat.predict_v2 = predict_v2
    app_compat.Flask = Flask


def _check_served_body():
    from flask import request
    from paddlehub.serving.app_compat import package_result
    from paddlehub.serving.model_service.base_model_service import v2_module_info
    from werkzeug.exceptions import HTTPException

    name = (request.view_args or {}).get("module_name")
    if request.method != "POST" or name not in v2_module_info.modules or not isinstance(v2_module_info.get_module(name), ElectraHubModule):
        return None
    try:
        body = request.get_json(force=True)  # cached: PaddleHub's own `request.json` gets this
    except HTTPException as e:  # 413: larger than MAX_REQUEST_BYTES; 400: not JSON
        return package_result(str(e.code), f"{e.name}: the body must be a JSON object of at most {MAX_REQUEST_BYTES} bytes", ""), e.code
    except RecursionError:
        return package_result("400", "the JSON body is nested too deeply: send {'data': [[text], ...]}", ""), 400
    if not isinstance(body, dict):
        return package_result("400", f"the JSON body must be an object with 'data', got {type(body).__name__}", ""), 400
    return None


def serving_app(module):
    """PaddleHub's serving Flask app for one module instance (what `hub serving start -m NAME`
    runs), with our request checks; `paddle-electra hub serve` runs it on loopback by default."""
    from paddlehub.serving import app_compat

    _answer_bad_requests_with_400()
    app_compat.config_with_file({module.name: {"module": module, "method_name": module.serving_func_name, "predict_args": {},
                                               "version": module.version, "category": "NLP", "name": module.name}})
    return app_compat.create_app(init_flag=True)


# ---- packing weights into modules ------------------------------------------------------------
MODULE_TEMPLATE = '''"""A paddle-electra model as a PaddleHub module: see `summary` below.

Behaviour: paddle_electra.hub.ElectraHubModule. Weights: assets/ (`paddle-electra hub pack`).
"""
from paddlehub.module.module import moduleinfo

from paddle_electra.hub import ElectraHubModule


@moduleinfo(
    name={name!r},
    version={version!r},
    summary={summary!r},
    author='paddle-electra',
    author_email='',
    type='nlp/semantic_model',
)
class {class_name}(ElectraHubModule):
    """A PaddleHub module (tasks: None, seq-cls, token-cls, text-matching, reading-comprehension)."""
'''
# Module names as PaddleHub installs them: they become directory names and module.py constants.
MODULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def check_module_name(name):
    if not isinstance(name, str) or not MODULE_NAME.fullmatch(name):
        raise ValueError(f"invalid module name {name!r}: use lower-case letters, digits, '-' and '_', starting with a letter or digit")
    return name


def module_source(name, summary, version="1.0.0"):
    """module.py of a module named `name` (the same template for the zoo's and users' modules).
    Every value is a Python literal (repr) and the class name is made of letters and digits only,
    so no name or summary can put code into the file."""
    check_module_name(name)
    class_name = "".join(part.capitalize() for part in re.split(r"[^0-9a-z]+", name) if part)
    if class_name[0].isdigit():
        class_name = "Module" + class_name
    return MODULE_TEMPLATE.format(name=name, summary=str(summary), version=str(version), class_name=class_name)


def zoo_summary(entry):
    d = entry.discriminator
    return (f"ELECTRA discriminator ({entry.family}), {d.num_hidden_layers}-layer, {d.hidden_size}-hidden, "
            f"{d.num_attention_heads}-heads, {entry.parameters('discriminator') / 1e6:.0f}M parameters")


def module_name(module_dir):
    """The name a module.py declares in @moduleinfo (read as PaddleHub reads it: parsed, not run)."""
    from paddlehub.module.module import Module

    try:
        return Module.load_module_info(module_dir).name
    except Exception as e:  # a syntax error, no decorated class, a non-literal name
        raise ValueError(f"{module_dir}/module.py declares no @moduleinfo name ({type(e).__name__}): pass a module directory") from None


def _copy_files(source, directory):
    os.makedirs(directory, exist_ok=True)
    for file in os.listdir(source):
        if os.path.isfile(os.path.join(source, file)):
            shutil.copy2(os.path.join(source, file), directory)


def pack(weights, module_dir=None, name=None, out=None):
    """Copy a converted or fine-tuned model directory into a module's assets/.

    Either `module_dir` (an existing module, e.g. hub_modules/chinese_electra_base: the weights must
    have its zoo architecture), or `name` + `out` (a new module directory for any model). Returns
    the module directory. Raises ValueError with the fix on bad input; writes nothing then.
    """
    config = _read_weights_config(weights, name or module_dir).copy() if os.path.isdir(weights) else None
    if config is None:
        raise ValueError(f"{weights} is not a model directory: pass the output of `paddle-electra convert` or a fine-tuned model")
    if name is not None:
        check_module_name(name)
    if module_dir:
        if not os.path.isfile(os.path.join(module_dir, "module.py")):
            raise ValueError(f"{module_dir} has no module.py: pass a directory of hub_modules/, or use --name and --out")
        entry = MODELS.get(module_name(module_dir))
        if entry is not None:
            expected = entry.config("discriminator").architecture()
            found = {k: config.get(k) for k in expected}
            if found != expected:
                raise ValueError(f"{weights} is not {entry.name}'s architecture ({found} != {expected}): convert the {entry.name} release")
        target = module_dir
    else:
        if not name or not out:
            raise ValueError("pass --module DIR, or --name NAME and --out DIR")
        target = out
    if module_dir:  # the new assets/ replace the old ones whole
        with staged(os.path.join(module_dir, "assets"), exists="replace", protect=[weights]) as tmp:
            load_model(weights)  # the weights load (not truncated, shapes as config.json says): LoadError otherwise
            _copy_files(weights, tmp)
    else:
        with staged(out, exists="error", protect=[weights], hint="choose another --out") as tmp:
            load_model(weights)
            _copy_files(weights, os.path.join(tmp, "assets"))
            summary = f"ELECTRA model packed from {os.path.basename(os.path.abspath(weights))}"
            with open(os.path.join(tmp, "module.py"), "w", encoding="utf-8") as f:
                f.write(module_source(name, summary))
    return target
