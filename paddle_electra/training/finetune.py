"""Fine-tuning, evaluation and prediction with the paddlenlp Trainer, for any labelled file.

    finetune("text-classification", "converted/discriminator", output="out/", train_file="train.csv",
             dev_file="dev.csv", epochs=2)  # or options=FinetuneOptions(train_file=..., epochs=2)
    evaluate(None, "out/", "test.csv")  # {"accuracy": ..., "macro_f1": ...}; the task: out/config.json's
    finetune("chnsenticorp", "converted/discriminator", "data/chnsenticorp", "out/")  # a seed preset

The task objects (`tasks.py`: text-classification, token-classification, question-answering and
the seed presets) read the files, encode them, build the head, score and format predictions.
Defaults follow ELECTRA's fine-tuning: AdamW, linear decay with 10% warm-up, weight decay 0.01;
`layerwise_lr_decay` (ELECTRA uses 0.8) scales each layer's learning rate as in the original code.
"""

import contextlib
import json
import logging
import os

import paddle

from paddle_electra.models.configuration import read_config
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.sources.paddlehub_modules import installed_module_weights
from paddle_electra.sources.pretrained import is_model_name, resolve
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.question_answering import QA_DEFAULTS  # noqa: F401 (QA_DEFAULTS: public)
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import get_task, task_of_config
from paddle_electra.training.distributed_predict import shard_of
from paddle_electra.training.fast_cpu import fast_training
from paddle_electra.training.options import FinetuneOptions, finetune_options  # noqa: F401 (public)
from paddle_electra.training.trainer import build_trainer, collate
from paddle_electra.utils.errors import PaddleElectraError

logger = logging.getLogger(__name__)
SPLIT_FILES = {
    "train": ("train.tsv", "train.json", "multinli.train.zh.tsv", "train.txt", "train.csv", "train.jsonl"),
    "dev": ("dev.tsv", "dev.json", "xnli.dev.tsv", "dev.txt", "dev.csv", "dev.jsonl"),
}


def find_split(data_dir, split):
    for name in SPLIT_FILES[split]:
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    if split == "dev":
        return None
    raise DataError(f"{data_dir}: no {split} file; expected one of {', '.join(SPLIT_FILES[split])}")


def resolve_model(model):
    """A model directory, a model name (zoo name or Hub repo id: its discriminator, fetched and
    converted on first use), or the name of an installed PaddleHub module (its packed weights)."""
    if os.path.isdir(model):
        return model
    if is_model_name(model):
        return resolve(model)
    try:
        return installed_module_weights(model)
    except PaddleElectraError as e:
        raise DataError(str(e)) from None


def _task(task, max_seq_length=None, **options):
    task = task if isinstance(task, TaskKind) else get_task(task, **options)
    if max_seq_length:
        task.options["max_seq_length"] = max_seq_length
    return task


def load_for_task(task, model, **head_options):
    """The task's head on the weights in `model` (a directory or a hub module name) + tokenizer."""
    directory = resolve_model(model)
    return _task(task).build(directory, **head_options), ElectraTokenizer.from_pretrained(directory)


def apply_layerwise_lr_decay(model, decay):
    """ELECTRA's layer-wise learning rates: a parameter at depth d gets lr x decay^(L + 2 - d), with
    embeddings at depth 0, encoder layer i at depth i + 1 and the task head at L + 2 (so 1x)."""
    layers = model.config.num_hidden_layers
    for name, param in model.named_parameters():
        if ".embeddings" in name or "embeddings_project" in name:
            depth = 0
        elif ".encoder.layers." in name:
            depth = int(name.split(".encoder.layers.")[1].split(".")[0]) + 1
        else:
            depth = layers + 2
        param.optimize_attr["learning_rate"] = decay ** (layers + 2 - depth)


def _check_precision(fp16, bf16):
    if (fp16 or bf16) and not (paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        flag = "--fp16" if fp16 else "--bf16"
        raise DataError(
            f"{flag}: mixed-precision training needs a CUDA GPU and paddlepaddle-gpu; this machine has none: "
            f"drop {flag} (CPU training runs in fp32)"
        )


def finetune(task, model, data_dir=None, output=None, *, options=None, **keywords):
    """Fine-tune `model` on a task and save it (weights, head, tokenizer, label set) to `output`.

    With a dev file, the model is evaluated every epoch (or every `eval_steps`), checkpoints are kept
    under `output`, and the best by `metric_for_best_model` (default: the task's, e.g. accuracy) is the
    one saved; `early_stopping_patience` evaluations without improvement stop training. Loss and
    learning rate are logged every `logging_steps` to the log and to `log_file` (default
    OUTPUT/train_log.jsonl, JSON Lines). `fast_cpu` (default; CPU only): `fast_cpu.fast_training`.
    Data-parallel under `python -m paddle.distributed.launch`: the first process saves.

    Args:
        task: a task kind (text-classification, token-classification, question-answering), a seed
            preset (chnsenticorp, ...) or a `tasks.TaskKind`.
        model: a model directory (e.g. converted/discriminator), a model name (zoo name or Hub repo
            id, fetched and converted on first use) or the name of an installed PaddleHub module.
        data_dir: a directory holding train.* and dev.* (`SPLIT_FILES`), instead of the options'
            `train_file` / `dev_file`.
        output: the directory for the fine-tuned model, its checkpoints and train_log.jsonl.
        options: a `FinetuneOptions` (default: its defaults): files, hyperparameters, head, reading
            options (columns, `QA_DEFAULTS` settings, label_all_tokens) and Trainer settings.
        **keywords: fields of `FinetuneOptions` by name, replacing those of `options` (e.g.
            `train_file="train.csv", epochs=1`); also `task_options` and `qa_options`, dicts of the
            reading fields. Any other name is a TypeError.

    Returns:
        The dev metrics, e.g. {"accuracy": ..., "macro_f1": ...} (also written to
        OUTPUT/eval_results.json), with a test file its metrics under "test"; {} without a dev
        file; None on the processes of a data-parallel run that do not save. With `seeds` or
        `trials` (repeated trials, `training/trials.py`): the trials' summary.
    """
    options = finetune_options(options, **keywords)
    if options.seeds or options.trials:
        from paddle_electra.training.trials import finetune_trials

        return finetune_trials(task, model, data_dir, output, options)
    task = _task(task, options.max_seq_length, **options.reading_options())
    task.encoding = options.encoding
    if output is None:
        raise DataError("no output directory: pass --output DIR")
    _check_precision(options.fp16, options.bf16)
    train_path, dev_path = _data_files(data_dir, options)
    resume = _resume_point(output, options.resume_from_checkpoint)
    train_examples = task.read_train(train_path)
    dev_examples = task.read(dev_path) if dev_path else None  # read now: a bad file fails before training
    paddle.seed(options.seed)
    net, tokenizer = load_for_task(task, model, **options.head_options())
    # the test file after the dev file and the head: a kind may tune on its dev file (multi-label)
    test_examples = task.read(options.test_file) if options.test_file else None
    if options.layerwise_lr_decay:
        apply_layerwise_lr_decay(net, options.layerwise_lr_decay)
    rows, _ = task.encode(train_examples, tokenizer, options.max_seq_length, training=True)
    dev_scores = None if dev_examples is None else _dev_scorer(task, net, tokenizer, dev_examples, options)
    # `collate` looked up here, at call time: benchmarks/bench_train.py replaces it
    trainer = build_trainer(net, rows, output, options, dev_scores, task.metric, data_collator=collate)
    _train(trainer, net, options.fast_cpu, resume)
    if not trainer.args.should_save:  # data-parallel: only the first process saves and evaluates
        return None
    return _save_and_score(task, net, tokenizer, dev_examples, test_examples, output, options)


def _data_files(data_dir, options):
    """(training file, dev file or None): the options' files, else `data_dir`'s train.* / dev.*."""
    train_path = options.train_file or (find_split(data_dir, "train") if data_dir else None)
    if train_path is None:
        raise DataError("no training data: pass --train-file FILE (or --data-dir DIR holding train.*)")
    return train_path, options.dev_file or (find_split(data_dir, "dev") if data_dir else None)


def _resume_point(output, resume):
    """The checkpoint `resume_from_checkpoint` names: True: the newest checkpoint-N of `output`; a
    checkpoint directory: itself; any other path: a DataError. None: start afresh."""
    if resume is True or resume is not None and not os.path.isdir(resume):
        return _last_checkpoint(output if resume is True else resume)
    return resume


def _last_checkpoint(directory):
    from paddlenlp.trainer.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(directory) if os.path.isdir(directory) else None
    if found is None:
        raise DataError(
            f"{directory}: no checkpoint-N directory to resume from: pass a checkpoint directory, or train "
            "with --save-steps N (or a dev file) first"
        )
    return found


def _dev_scorer(task, net, tokenizer, dev_examples, options):
    """The Trainer's evaluation: the task's metrics on the dev examples, run on the training Layer
    itself (dygraph), which is put back in training mode."""

    def dev_scores():
        runtime = {"backend": "dygraph"}
        scores = _score(
            task, net, tokenizer, dev_examples, options.batch_size, options.max_seq_length, runtime
        )
        net.train()
        return scores

    return dev_scores


def _train(trainer, net, fast_cpu, resume):
    """`trainer.train`, on CPU inside `fast_training` (unless not `fast_cpu`); logs the best checkpoint."""
    args = trainer.args
    if args.world_size > 1:
        logger.info(
            "data-parallel fine-tuning over %d processes (rank %d)", args.world_size, args.process_index
        )
    fast = fast_cpu and paddle.get_device() == "cpu"
    # data-parallel processes share the cores: one thread each
    with fast_training(net, 1 if args.world_size > 1 else None) if fast else contextlib.nullcontext() as how:
        if fast and how[0]:
            logger.info("fast CPU training: %d threads, %d fused Transformer layers", *how)
        trainer.train(resume_from_checkpoint=resume)
    if trainer.state.best_model_checkpoint:
        logger.info(
            "best checkpoint: %s (%s %.4f)",
            trainer.state.best_model_checkpoint,
            args.metric_for_best_model,
            trainer.state.best_metric,
        )


def _save_and_score(task, net, tokenizer, dev_examples, test_examples, output, options):
    """Save the model and tokenizer to `output`; the dev metrics ({} without dev examples), also
    written to OUTPUT/eval_results.json, and with test examples their metrics under "test" (also in
    OUTPUT/test_results.json)."""
    net.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)

    def scored(examples, name):
        scores = _score(
            task, net, tokenizer, examples, options.batch_size, options.max_seq_length, {"cache": False}
        )  # one-off export
        with open(os.path.join(output, name), "w", encoding="utf-8") as f:
            json.dump(scores, f, ensure_ascii=False, indent=1)
        return scores

    metrics = scored(dev_examples, "eval_results.json") if dev_examples is not None else {}
    if test_examples is not None:
        metrics["test"] = scored(test_examples, "test_results.json")
    return metrics


def _predictions(task, net, tokenizer, examples, batch_size, max_seq_length, runtime=None):
    """One prediction dict per example (label + probability, tags + entities, or answer)."""
    rows, state = task.encode(examples, tokenizer, max_seq_length, training=False)
    predictor = Predictor(net, **(runtime or {}))
    outputs = predict_items(predictor, rows, batch_size)
    predictor.close()  # a temporary export (cache=False) goes now
    return task.decode(examples, rows, state, outputs)


def _score(task, net, tokenizer, examples, batch_size, max_seq_length, runtime=None, report=False):
    return task.score(
        examples, _predictions(task, net, tokenizer, examples, batch_size, max_seq_length, runtime), report
    )


def load_finetuned(model_dir, task=None, **options):
    """(task object, head, tokenizer) of a directory written by `finetune`; the task and its label
    set come from its config.json (`task`, when given, must match it). A fine-tuned model on the Hub
    works by its repo id."""
    model_dir = resolve(model_dir)
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise DataError(
            f"{model_dir} is not a model directory (no config.json): "
            "pass the --output of `paddle-electra finetune`"
        )
    config = read_config(config_path)
    spec = task_of_config(config, task, **options)
    return spec, spec.head.from_pretrained(model_dir), ElectraTokenizer.from_pretrained(model_dir)


def _length(spec, max_seq_length):
    return max_seq_length or spec.options.get("max_seq_length") or 128


def evaluate(
    task,
    model_dir,
    data_file,
    batch_size=32,
    max_seq_length=None,
    qa_options=None,
    runtime=None,
    report=False,
    task_options=None,
    encoding="utf-8",
):
    """Metrics of a fine-tuned model on a labelled file: accuracy + macro-F1 (`report`: per class
    too), entity P/R/F1, or CMRC EM/F1. `task`: None for the model's own. `max_seq_length`: default
    the training length. `runtime`: Predictor options (default: the fast static path). `encoding`:
    the file's (default UTF-8, a BOM accepted)."""
    spec, net, tokenizer = load_finetuned(model_dir, task, **dict(task_options or {}, **(qa_options or {})))
    spec.encoding = encoding
    examples = spec.read(data_file)
    return _score(spec, net, tokenizer, examples, batch_size, _length(spec, max_seq_length), runtime, report)


def predict(
    task,
    model_dir,
    data_file=None,
    batch_size=32,
    max_seq_length=None,
    qa_options=None,
    runtime=None,
    lines=None,
    task_options=None,
    encoding="utf-8",
    shard=None,
):
    """One JSON-ready record per example of `data_file` (the task's format; labels ignored) or of
    `lines` (one text per line; a tab between a pair; QA: {"question", "context"} JSON):
    {"text", "label", "probability"}, {"text", "entities": [{"type", "text", "start", "end"}]} with
    character offsets into the text, or {"id", "question", "answer", "start", "end", "probability"}.
    `shard` (rank, processes): only examples rank, rank + processes, ... (distributed_predict)."""
    spec, net, tokenizer = load_finetuned(model_dir, task, **dict(task_options or {}, **(qa_options or {})))
    spec.encoding = encoding
    examples = spec.read(data_file, labelled=False) if lines is None else spec.read_lines(lines)
    if shard is not None:
        examples = shard_of(examples, *shard)
    predictions = _predictions(
        spec, net, tokenizer, examples, batch_size, _length(spec, max_seq_length), runtime
    )
    return [spec.format(e, p) for e, p in zip(examples, predictions)]
