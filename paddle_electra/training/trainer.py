"""The paddlenlp Trainer glue of fine-tuning: batches (`collate`), the Trainer with the task's own dev
evaluation (`TaskTrainer`, made by `build_trainer` from `FinetuneOptions`) and the log of loss,
learning rate and dev metrics (`LogCallback`)."""

import json
import logging
import os

import numpy as np
import paddle
from paddlenlp.trainer import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from paddle_electra.runtime.batching import feed, pad
from paddle_electra.tasks.readers import DataError

logger = logging.getLogger(__name__)
LOG_KEYS = ("loss", "learning_rate", "global_step", "epoch")


def collate(rows):
    """Pad a batch: ids and types with 0, attention_mask from the lengths, token labels with -100,
    float targets as float32.
    Rows holding one id list per choice (multiple choice): `grouped`."""
    if isinstance(rows[0]["input_ids"][0], list):
        return grouped(rows)
    batch = {key: paddle.to_tensor(array) for key, array in feed(rows).items()}
    for key in rows[0].keys() - batch.keys():
        values = [r[key] for r in rows]
        if isinstance(values[0], list):  # token labels, or a multi-hot label vector (same length)
            batch[key] = paddle.to_tensor(pad(values, -100))
        else:  # class ids, or float targets (regression)
            batch[key] = paddle.to_tensor(
                np.array(values, dtype="float32" if isinstance(values[0], float) else "int64")
            )
    return batch


def grouped(rows):
    """Pad a batch of rows whose ids and types hold one list per choice to [batch, choices, length]
    (a row with fewer choices gets [PAD]-only ones), with `choice_mask` [batch, choices] (1: a real
    choice) and the other keys (labels) as int64 arrays [batch]."""
    width = max(len(row["input_ids"]) for row in rows)
    keys = ("input_ids", "token_type_ids")
    flat = [{k: row[k][c] if c < len(row[k]) else [0] for k in keys} for row in rows for c in range(width)]
    batch = {k: paddle.to_tensor(a.reshape([len(rows), width, -1])) for k, a in feed(flat).items()}
    batch["choice_mask"] = paddle.to_tensor(pad([[1] * len(row["input_ids"]) for row in rows]))
    for key in rows[0].keys() - set(keys):
        batch[key] = paddle.to_tensor(np.array([row[key] for row in rows], dtype="int64"))
    return batch


class TaskTrainer(Trainer):
    """The paddlenlp Trainer, evaluating with `dev_scores()`: the task's metrics on the dev examples
    (not the Trainer's own evaluation loop)."""

    def __init__(self, *args, dev_scores=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dev_scores = dev_scores

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        scores = self.dev_scores()
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items() if not isinstance(v, dict)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def training_arguments(output, options, with_dev, metric):
    """paddlenlp `TrainingArguments` from `FinetuneOptions`: with a dev set (`with_dev`), evaluation and
    checkpoints every epoch or every `eval_steps` / `save_steps`, and the best checkpoint by
    `options.metric_for_best_model` (default `metric`, the task's) loaded at the end."""
    arguments = dict(
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.learning_rate,
        per_device_train_batch_size=options.batch_size,
        seed=options.seed,
        warmup_ratio=options.warmup_ratio,
        weight_decay=options.weight_decay,
        gradient_accumulation_steps=options.gradient_accumulation_steps,
        logging_steps=options.logging_steps,
        fp16=options.fp16,
        bf16=options.bf16,
    )
    eval_steps, save_steps = options.eval_steps, options.save_steps
    if with_dev:
        steps = eval_steps or save_steps
        strategy = "steps" if steps else "epoch"
        arguments.update(
            evaluation_strategy=strategy,
            save_strategy=strategy,
            eval_steps=eval_steps or steps,
            save_steps=save_steps or steps,
            load_best_model_at_end=True,
            save_total_limit=2,
            metric_for_best_model=options.metric_for_best_model or metric,
            greater_is_better=True,
        )
    elif save_steps:
        arguments.update(save_strategy="steps", save_steps=save_steps)
    else:
        arguments.update(save_strategy="no")
    if options.early_stopping_patience and not with_dev:
        raise DataError("early stopping needs a dev file to watch: pass --dev-file FILE")
    try:
        return TrainingArguments(
            output_dir=output, report_to=[], **{k: v for k, v in arguments.items() if v is not None}
        )
    except ValueError as e:
        raise DataError(f"training options: {e}") from None


def build_trainer(net, rows, output, options, dev_scores=None, metric=None, data_collator=collate):
    """The Trainer of `net` on the encoded training `rows`, saving under `output`, with the logging
    callback (to `options.log_file`, default OUTPUT/train_log.jsonl) and early stopping. `dev_scores`:
    a function returning the dev metrics (None: no dev set); `metric`: the task's default metric."""
    patience = options.early_stopping_patience
    args = training_arguments(output, options, dev_scores is not None, metric)
    log_file = options.log_file or os.path.join(output, "train_log.jsonl")
    callbacks = [LogCallback(log_file)] + ([EarlyStoppingCallback(patience)] if patience else [])
    trainer = TaskTrainer(
        model=net,
        args=args,
        train_dataset=rows,
        eval_dataset=rows[:1] if dev_scores is not None else None,
        data_collator=data_collator,
        callbacks=callbacks,
        dev_scores=dev_scores,
    )
    callbacks[0].progress = next(
        (c for c in trainer.callback_handler.callbacks if hasattr(c, "training_bar")), None
    )
    return trainer


class LogCallback(TrainerCallback):
    """Loss and learning rate every logging_steps (and dev metrics) to the log, the progress bar and a
    JSON Lines file."""

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
