"""Fine-tuning, evaluation and prediction with the paddlenlp Trainer, for any labelled file.

    finetune("text-classification", "converted/discriminator", output="out/", train_file="train.csv", dev_file="dev.csv")
    evaluate(None, "out/", "test.csv")  # {"accuracy": ..., "macro_f1": ...}; the task comes from out/config.json
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

import numpy as np
import paddle
from paddlenlp.trainer import TrainerCallback

from paddle_electra.models.configuration import read_config
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.runtime.batching import feed, pad, predict_items
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.sources.paddlehub_modules import installed_module_weights
from paddle_electra.sources.pretrained import is_model_name, resolve
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.question_answering import QA_DEFAULTS  # noqa: F401 (QA_DEFAULTS: public)
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import get_task, task_of_config
from paddle_electra.training.fast_cpu import fast_training
from paddle_electra.utils.errors import PaddleElectraError

logger = logging.getLogger(__name__)
SPLIT_FILES = {
    "train": ("train.tsv", "train.json", "multinli.train.zh.tsv", "train.txt", "train.csv", "train.jsonl"),
    "dev": ("dev.tsv", "dev.json", "xnli.dev.tsv", "dev.txt", "dev.csv", "dev.jsonl"),
}
LOG_KEYS = ("loss", "learning_rate", "global_step", "epoch")


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


def collate(rows):
    """Pad a batch: ids and types with 0, attention_mask from the lengths, token labels with -100."""
    batch = {key: paddle.to_tensor(array) for key, array in feed(rows).items()}
    for key in rows[0].keys() - batch.keys():
        values = [r[key] for r in rows]
        batch[key] = paddle.to_tensor(
            pad(values, -100) if isinstance(values[0], list) else np.array(values, dtype="int64")
        )
    return batch


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


def finetune(
    task,
    model,
    data_dir=None,
    output=None,
    epochs=3,
    learning_rate=1e-4,
    batch_size=32,
    max_seq_length=128,
    seed=42,
    layerwise_lr_decay=None,
    label_all_tokens=False,
    warmup_ratio=0.1,
    weight_decay=0.01,
    max_steps=-1,
    qa_options=None,
    fast_cpu=True,
    train_file=None,
    dev_file=None,
    task_options=None,
    gradient_accumulation_steps=1,
    logging_steps=50,
    eval_steps=None,
    save_steps=None,
    metric_for_best_model=None,
    early_stopping_patience=None,
    resume_from_checkpoint=None,
    fp16=False,
    bf16=False,
    log_file=None,
    **head_options,
):
    """Fine-tune `model` on a task and save it to `output`; returns the dev metrics ({} without a
    dev file; None on the other processes of a data-parallel run, `python -m paddle.distributed.launch`).

    task: a kind (text-classification, token-classification, question-answering), a seed preset
    (chnsenticorp, ...) or a `tasks.TaskKind`; `task_options`: its reading options (text_column,
    text_pair_column, label_column), `qa_options` (QA_DEFAULTS) and `label_all_tokens` likewise.
    Files: `train_file` / `dev_file`, or `data_dir` holding train.* / dev.* (SPLIT_FILES).
    With a dev file, the model is evaluated every epoch (or every `eval_steps`), checkpoints are kept
    under `output`, and the best by `metric_for_best_model` (default: the task's, e.g. accuracy) is the
    one saved; `early_stopping_patience` evaluations without improvement stop training. Loss and
    learning rate are logged every `logging_steps` to the log and to `log_file` (default
    OUTPUT/train_log.jsonl, JSON Lines). `fast_cpu` (default; CPU only): `fast_cpu.fast_training`."""
    options = dict(task_options or {}, **(qa_options or {}))
    if label_all_tokens:
        options["label_all_tokens"] = True
    task = _task(task, max_seq_length, **options)
    if output is None:
        raise DataError("no output directory: pass --output DIR")
    _check_precision(fp16, bf16)
    train_path = train_file or (find_split(data_dir, "train") if data_dir else None)
    if train_path is None:
        raise DataError("no training data: pass --train-file FILE (or --data-dir DIR holding train.*)")
    dev_path = dev_file or (find_split(data_dir, "dev") if data_dir else None)
    if (
        resume_from_checkpoint is True
        or resume_from_checkpoint is not None
        and not os.path.isdir(resume_from_checkpoint)
    ):
        resume_from_checkpoint = _last_checkpoint(
            output if resume_from_checkpoint is True else resume_from_checkpoint
        )
    train_examples = task.read_train(train_path)
    dev_examples = (
        task.read(dev_path) if dev_path else None
    )  # read now: a malformed file fails before training
    paddle.seed(seed)
    net, tokenizer = load_for_task(task, model, **head_options)
    if layerwise_lr_decay:
        apply_layerwise_lr_decay(net, layerwise_lr_decay)
    rows, _ = task.encode(train_examples, tokenizer, max_seq_length, training=True)
    trainer = _trainer(
        task,
        net,
        tokenizer,
        rows,
        dev_examples,
        output,
        batch_size,
        max_seq_length,
        dict(
            num_train_epochs=epochs,
            max_steps=max_steps,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            seed=seed,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            gradient_accumulation_steps=gradient_accumulation_steps,
            logging_steps=logging_steps,
            fp16=fp16,
            bf16=bf16,
        ),
        eval_steps,
        save_steps,
        metric_for_best_model,
        early_stopping_patience,
        log_file or os.path.join(output, "train_log.jsonl"),
    )
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
        trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    if trainer.state.best_model_checkpoint:
        logger.info(
            "best checkpoint: %s (%s %.4f)",
            trainer.state.best_model_checkpoint,
            args.metric_for_best_model,
            trainer.state.best_metric,
        )
    if not args.should_save:  # data-parallel: only the first process saves and evaluates
        return None
    net.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    if dev_examples is None:
        return {}
    metrics = _score(
        task, net, tokenizer, dev_examples, batch_size, max_seq_length, {"cache": False}
    )  # one-off export
    with open(os.path.join(output, "eval_results.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, ensure_ascii=False, indent=1)
    return metrics


def _last_checkpoint(directory):
    from paddlenlp.trainer.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(directory) if os.path.isdir(directory) else None
    if found is None:
        raise DataError(
            f"{directory}: no checkpoint-N directory to resume from: pass a checkpoint directory, or train "
            "with --save-steps N (or a dev file) first"
        )
    return found


def _trainer(
    task,
    net,
    tokenizer,
    rows,
    dev_examples,
    output,
    batch_size,
    max_seq_length,
    arguments,
    eval_steps,
    save_steps,
    metric,
    patience,
    log_file,
):
    """The paddlenlp Trainer, with evaluation on the dev examples (our metrics, not its loop) and the logging callback."""
    from paddlenlp.trainer import EarlyStoppingCallback, Trainer, TrainingArguments

    class TaskTrainer(Trainer):
        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            scores = _score(
                task, net, tokenizer, dev_examples, batch_size, max_seq_length, runtime={"backend": "dygraph"}
            )
            net.train()
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items() if not isinstance(v, dict)}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    if dev_examples is not None:
        steps = eval_steps or save_steps
        strategy = "steps" if steps else "epoch"
        arguments.update(
            evaluation_strategy=strategy,
            save_strategy=strategy,
            eval_steps=eval_steps or steps,
            save_steps=save_steps or steps,
            load_best_model_at_end=True,
            save_total_limit=2,
            metric_for_best_model=metric or task.metric,
            greater_is_better=True,
        )
    elif save_steps:
        arguments.update(save_strategy="steps", save_steps=save_steps)
    else:
        arguments.update(save_strategy="no")
    if patience and dev_examples is None:
        raise DataError("early stopping needs a dev file to watch: pass --dev-file FILE")
    try:
        args = TrainingArguments(
            output_dir=output, report_to=[], **{k: v for k, v in arguments.items() if v is not None}
        )
    except ValueError as e:
        raise DataError(f"training options: {e}") from None
    callbacks = [_LogCallback(log_file)] + ([EarlyStoppingCallback(patience)] if patience else [])
    trainer = TaskTrainer(
        model=net,
        args=args,
        train_dataset=rows,
        eval_dataset=rows[:1] if dev_examples else None,
        data_collator=collate,
        callbacks=callbacks,
    )
    callbacks[0].progress = next(
        (c for c in trainer.callback_handler.callbacks if hasattr(c, "training_bar")), None
    )
    return trainer


class _LogCallback(TrainerCallback):
    """Loss and learning rate every logging_steps (and dev metrics) to the log, the progress bar and a JSON Lines file."""

    def __init__(self, path):
        self.path, self.progress = path, None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_local_process_zero or not logs:
            return
        record = {
            k: v for k, v in logs.items() if k in LOG_KEYS or k.startswith("eval_") or k == "train_loss"
        }
        record = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **record}
        if "loss" in record:
            bar = getattr(self.progress, "training_bar", None)
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record.get('learning_rate', 0):.2e}")
        shown = {k: v for k, v in record.items() if k not in ("global_step",)}
        logger.info(
            " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
        )
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


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
            f"{model_dir} is not a model directory (no config.json): pass the --output of `paddle-electra finetune`"
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
):
    """Metrics of a fine-tuned model on a labelled file: accuracy + macro-F1 (`report`: per class
    too), entity P/R/F1, or CMRC EM/F1. `task`: None for the model's own. `max_seq_length`: default
    the training length. `runtime`: Predictor options (default: the fast static path)."""
    spec, net, tokenizer = load_finetuned(model_dir, task, **dict(task_options or {}, **(qa_options or {})))
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
):
    """One JSON-ready record per example of `data_file` (the task's format; labels ignored) or of
    `lines` (one text per line; a tab between a pair; QA: {"question", "context"} JSON):
    {"text", "label", "probability"}, {"text", "entities": [{"type", "text", "start", "end"}]} with
    character offsets into the text, or {"id", "question", "answer", "start", "end", "probability"}."""
    spec, net, tokenizer = load_finetuned(model_dir, task, **dict(task_options or {}, **(qa_options or {})))
    examples = spec.read(data_file, labelled=False) if lines is None else spec.read_lines(lines)
    predictions = _predictions(
        spec, net, tokenizer, examples, batch_size, _length(spec, max_seq_length), runtime
    )
    return [spec.format(e, p) for e, p in zip(examples, predictions)]
