"""Fine-tuning, evaluation and prediction on the seed tasks with the paddlenlp Trainer.

    finetune("chnsenticorp", "converted/discriminator", "data/chnsenticorp", "out/")
    evaluate("chnsenticorp", "out/", "data/chnsenticorp/dev.tsv")  # {"accuracy": ...}

Task families (see `data.TASKS`): classification (ChnSentiCorp, LCQMC, BQ Corpus, XNLI), tagging
(MSRA NER; the first sub-token of each character/word is labelled, or every token with
`label_all_tokens`), reading comprehension (CMRC 2018, DRCD). Defaults follow ELECTRA's
fine-tuning: AdamW, linear decay with 10% warm-up, weight decay 0.01; `layerwise_lr_decay`
(ELECTRA uses 0.8) scales each layer's learning rate as in the original code.
"""
import contextlib
import json
import logging
import os

import numpy as np
import paddle

from .batching import feed, pad
from .data import TASKS, DataError, read_task
from .fast_cpu import fast_training
from .heads import ElectraForQuestionAnswering, ElectraForSequenceClassification, ElectraForTokenClassification
from .inference import Predictor, predict_items
from .metrics import accuracy, cmrc_scores, entity_f1
from .qa import featurize, postprocess
from .tokenizer import ElectraTokenizer, encode_words

logger = logging.getLogger(__name__)
HEADS = {"classification": ElectraForSequenceClassification, "tagging": ElectraForTokenClassification, "qa": ElectraForQuestionAnswering}
SPLIT_FILES = {
    "train": ("train.tsv", "train.json", "multinli.train.zh.tsv", "train.txt"),
    "dev": ("dev.tsv", "dev.json", "xnli.dev.tsv", "dev.txt"),
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
    """A model directory, or the name of an installed PaddleHub module (its packed weights)."""
    if os.path.isdir(model):
        return model
    from .hub import installed_module_weights  # the hub layer, only when a hub name is given

    try:
        return installed_module_weights(model)
    except ValueError as e:
        raise DataError(str(e)) from None


def load_for_task(task, model, **head_options):
    """The task's head on the weights in `model` (a directory or a hub module name) + tokenizer."""
    spec = TASKS[task]
    directory = resolve_model(model)
    kwargs = dict(head_options)
    if spec.kind != "qa":
        kwargs.update(num_labels=len(spec.labels), id2label=dict(enumerate(spec.labels)),
                      label2id={label: i for i, label in enumerate(spec.labels)})
    net = HEADS[spec.kind].from_pretrained(directory, **kwargs)
    net.config.task = task
    return net, ElectraTokenizer.from_pretrained(directory)


QA_DEFAULTS = {"max_query_length": 64, "doc_stride": 128, "n_best_size": 20, "max_answer_length": 30}


def encode(task, examples, tokenizer, max_seq_length=128, label_all_tokens=False, training=True, max_query_length=64, doc_stride=128):
    """Examples -> model features (dicts of id lists and labels). For reading comprehension also
    returns the QAFeatures (windows) needed to map predictions back to answers."""
    spec = TASKS[task]
    if spec.kind == "qa":
        windows = featurize(examples, tokenizer, max_seq_length=max_seq_length, max_query_length=max_query_length,
                            doc_stride=doc_stride, training=training)
        rows = [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids, "start_positions": f.start_position,
                 "end_positions": f.end_position} for f in windows]
        return rows, windows
    label_ids = {label: i for i, label in enumerate(spec.labels)}
    if spec.kind == "classification":
        enc = tokenizer.encode_batch([e.text_a for e in examples], [e.text_b for e in examples], max_length=max_seq_length)
        return [{"input_ids": ids, "token_type_ids": types, "labels": label_ids[e.label]}
                for e, ids, types in zip(examples, enc["input_ids"], enc["token_type_ids"])], None
    rows = []
    for example in examples:
        ids, first = encode_words(tokenizer, example.tokens, max_seq_length)
        labels = [-100] * len(ids)
        for start, end, tag in zip(first, first[1:] + [len(ids) - 1], example.labels):
            if start is None:
                continue
            labels[start] = label_ids[tag]
            if label_all_tokens:  # continuation sub-tokens get the word's label, B- turned into I-
                inside = label_ids.get("I-" + tag[2:], label_ids[tag]) if tag.startswith("B-") else label_ids[tag]
                for i in range(start + 1, end if end is not None else len(ids) - 1):
                    labels[i] = inside
        rows.append({"input_ids": ids, "token_type_ids": [0] * len(ids), "labels": labels, "first": first})
    return rows, None


def collate(rows):
    """Pad a batch: ids and types with 0, attention_mask from the lengths, token labels with -100."""
    batch = {key: paddle.to_tensor(array) for key, array in feed(rows).items()}
    for key in ("labels", "start_positions", "end_positions"):
        if key in rows[0]:
            values = [r[key] for r in rows]
            batch[key] = paddle.to_tensor(pad(values, -100) if isinstance(values[0], list) else np.array(values, dtype="int64"))
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


def finetune(task, model, data_dir, output, epochs=3, learning_rate=1e-4, batch_size=32, max_seq_length=128, seed=42,
             layerwise_lr_decay=None, label_all_tokens=False, warmup_ratio=0.1, weight_decay=0.01, max_steps=-1,
             qa_options=None, fast_cpu=True, **head_options):
    """Fine-tune `model` on the task's train file in `data_dir`, save to `output`, and evaluate on the
    dev file if there is one. Returns the dev metrics ({} without a dev file; None on the other
    processes of a data-parallel run, started with `python -m paddle.distributed.launch`). `qa_options`:
    max_query_length, doc_stride, n_best_size, max_answer_length (QA_DEFAULTS, as the original code).
    `fast_cpu` (default True; only on CPU): `fast_cpu.fast_training`: every usable core, bias
    gradients as GEMMs, fused C kernels for the Transformer layers (the same function to float
    rounding; dropout masks from the kernels' own generator); False keeps Paddle's kernels and defaults."""
    qa = {**QA_DEFAULTS, **(qa_options or {})}
    from paddlenlp.trainer import Trainer, TrainingArguments

    train_examples = read_task(task, find_split(data_dir, "train"))
    dev_file = find_split(data_dir, "dev")
    dev_examples = read_task(task, dev_file) if dev_file else None  # read now: a malformed file fails before training
    paddle.seed(seed)
    net, tokenizer = load_for_task(task, model, **head_options)
    if layerwise_lr_decay:
        apply_layerwise_lr_decay(net, layerwise_lr_decay)
    rows, _ = encode(task, train_examples, tokenizer, max_seq_length, label_all_tokens, training=True,
                     max_query_length=qa["max_query_length"], doc_stride=qa["doc_stride"])
    args = TrainingArguments(
        output_dir=output, num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
        per_device_train_batch_size=batch_size, seed=seed, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
        save_strategy="no", logging_steps=50, report_to=[],
    )
    trainer = Trainer(model=net, args=args, train_dataset=rows, data_collator=collate)
    if args.world_size > 1:
        logger.info("data-parallel fine-tuning over %d processes (rank %d)", args.world_size, args.process_index)
    fast = fast_cpu and paddle.get_device() == "cpu"
    # data-parallel processes share the cores: one thread each
    with fast_training(net, 1 if args.world_size > 1 else None) if fast else contextlib.nullcontext() as how:
        if fast:
            logger.info("fast CPU training: %d threads, %d fused Transformer layers", *how)
        trainer.train()
    if not args.should_save:  # data-parallel: only the first process saves and evaluates
        return None
    net.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    if dev_examples is None:
        return {}
    metrics = _score(task, net, tokenizer, dev_examples, batch_size, max_seq_length, qa, {"cache": False})  # one-off export
    with open(os.path.join(output, "eval_results.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, ensure_ascii=False, indent=1)
    return metrics


def _predictions(task, net, tokenizer, examples, batch_size, max_seq_length, qa, runtime=None):
    """Predicted label / tag list / answer text per example."""
    spec = TASKS[task]
    rows, windows = encode(task, examples, tokenizer, max_seq_length, training=False,
                           max_query_length=qa["max_query_length"], doc_stride=qa["doc_stride"])
    predictor = Predictor(net, **(runtime or {}))
    outputs = predict_items(predictor, rows, batch_size)
    predictor.close()  # a temporary export (cache=False) goes now
    if spec.kind == "qa":
        answers = postprocess(examples, windows, outputs, n_best_size=qa["n_best_size"], max_answer_length=qa["max_answer_length"])
        return [answers[e.qid]["text"] for e in examples]
    if spec.kind == "classification":
        return [spec.labels[int(np.argmax(o))] for o in outputs]
    return [[spec.labels[int(np.argmax(o[i]))] if i is not None else "O" for i in row["first"]] for row, o in zip(rows, outputs)]


def _score(task, net, tokenizer, examples, batch_size, max_seq_length, qa, runtime=None):
    predicted = _predictions(task, net, tokenizer, examples, batch_size, max_seq_length, qa, runtime)
    kind = TASKS[task].kind
    if kind == "qa":
        scores = cmrc_scores({e.qid: [a["text"] for a in e.answers] for e in examples}, dict(zip((e.qid for e in examples), predicted)))
        return {"em": scores["em"], "f1": scores["f1"]}
    if kind == "classification":
        return {"accuracy": accuracy([e.label for e in examples], predicted)}
    return entity_f1([e.labels for e in examples], predicted)


def _load_finetuned(task, model_dir):
    spec = TASKS[task]
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise DataError(f"{model_dir} is not a model directory (no config.json): pass the --output of `paddle-electra finetune`")
    with open(config_path, encoding="utf-8") as f:
        trained_task = json.load(f).get("task")
    if trained_task != task:
        raise DataError(f"{model_dir} was fine-tuned for task {trained_task!r}, not {task!r}: pass --task {trained_task}")
    return HEADS[spec.kind].from_pretrained(model_dir), ElectraTokenizer.from_pretrained(model_dir)


def evaluate(task, model_dir, data_file, batch_size=32, max_seq_length=128, qa_options=None, runtime=None):
    """Metrics of a fine-tuned model on a labelled file: accuracy, entity P/R/F1, or CMRC EM/F1.
    `runtime`: Predictor options (backend, precision, threads; default: the fast static path)."""
    net, tokenizer = _load_finetuned(task, model_dir)
    examples = read_task(task, data_file)
    return _score(task, net, tokenizer, examples, batch_size, max_seq_length, {**QA_DEFAULTS, **(qa_options or {})}, runtime)


def predict(task, model_dir, data_file, batch_size=32, max_seq_length=128, qa_options=None, runtime=None):
    """Predictions for every example of a file (labels, tag lists, or {qid: answer})."""
    net, tokenizer = _load_finetuned(task, model_dir)
    examples = read_task(task, data_file)
    predicted = _predictions(task, net, tokenizer, examples, batch_size, max_seq_length, {**QA_DEFAULTS, **(qa_options or {})},
                             runtime)
    if TASKS[task].kind == "qa":
        return dict(zip((e.qid for e in examples), predicted))
    return predicted
