"""`finetune`, `evaluate`, `predict` and `pretrain`. The options of `finetune` and `pretrain` are the
fields of `training.options.FinetuneOptions` / `PretrainOptions`: their flags are made from them and
the training functions get one options object."""

import io
import json
import os
import sys

from paddle_electra.cli.common import UsageError, model_dir
from paddle_electra.cli.options import (
    add_dataclass_arguments,
    add_model_option,
    add_output_option,
    add_runtime_options,
    dataclass_from_args,
    runtime_options,
)
from paddle_electra.training.options import COLUMN_FIELDS, QA_FIELDS, FinetuneOptions, PretrainOptions

FINETUNE_DESCRIPTION = (
    "Fine-tune a converted discriminator (or an installed hub module's weights). --task text-classification "
    "reads CSV / TSV / JSON Lines (header: text, label; see the column options), token-classification CoNLL "
    "`token tag` lines or MSRA tsv (tags B-TYPE or TYPE-B), question-answering SQuAD json, multiple-choice "
    "C3 json or JSON Lines, text-regression a numeric label column, multi-label-classification label lists; "
    "the label set comes from the training file and is saved with the model. A text longer than "
    "--max-seq-length is read in overlapping windows (--long-text). With a dev file the model is "
    "evaluated every epoch (or --eval-steps) "
    "and the best checkpoint is kept. Logs loss and learning rate every --logging-steps (also to "
    "OUTPUT/train_log.jsonl) and prints the dev metrics as the last line (JSON). --seeds 1,2,3 repeats the "
    "recipe once per seed and prints each run's metrics with their mean, std and max."
)


def add_finetune(sub):
    from paddle_electra.tasks.registry import KINDS, PRESETS, TASK_NAMES

    ft = sub.add_parser(
        "finetune",
        help="fine-tune on your own labelled files (or a seed task) with the paddlenlp Trainer",
        description=FINETUNE_DESCRIPTION,
    )
    ft.add_argument(
        "--task",
        required=True,
        choices=TASK_NAMES,
        metavar="TASK",
        help=f"{', '.join(KINDS)} for your own files, or a seed task preset: {', '.join(PRESETS)}",
    )
    add_model_option(
        ft,
        "model directory (e.g. converted/discriminator), model name (zoo name or Hub "
        "repo id, fetched and converted on first use) or installed hub module name",
        required=True,
    )
    add_dataclass_arguments(ft, FinetuneOptions, names=("train_file", "dev_file"))
    ft.add_argument(
        "--data-dir",
        help="instead of the files: a directory with train.* and dev.* (tsv, csv, jsonl, json, txt; "
        "XNLI: multinli.train.zh.tsv / xnli.dev.tsv)",
    )
    add_output_option(
        ft,
        "directory for the fine-tuned model (and checkpoints, train_log.jsonl)",
        canonical="--output",
        required=True,
    )
    add_dataclass_arguments(ft, FinetuneOptions, skip=("train_file", "dev_file"))
    ft.set_defaults(func=_finetune)


def _finetune(args):
    from paddle_electra.training.finetune import finetune

    if not args.train_file and not args.data_dir:
        raise UsageError("no training data: pass --train-file FILE (and --dev-file FILE), or --data-dir DIR")
    options = dataclass_from_args(FinetuneOptions, args)
    metrics = finetune(args.task, args.model, args.data_dir, args.output, options=options)
    if metrics is None:  # the non-saving processes of a data-parallel run
        return
    if "runs" in metrics:  # repeated trials
        from paddle_electra.training.trials import trials_table

        print("\n".join(trials_table(metrics)))
        print(
            f"saved the best run (seed {metrics['best_seed']}, by dev {metrics['metric']}) to {args.output}"
        )
    else:
        print(f"saved the fine-tuned model to {args.output}")
    print(json.dumps(metrics, ensure_ascii=False))


EVALUATE = (
    "metrics of a fine-tuned model on a labelled file (last line: JSON): accuracy and macro_f1, "
    "entity precision/recall/f1, or em/f1"
)
PREDICT = (
    "predictions of a fine-tuned model as JSON Lines, for a file or for stdin (one text per line; "
    'a tab between a pair; question-answering: one {"question", "context"} JSON object per line). '
    "Over several processes or machines with `python -m paddle.distributed.launch --nproc_per_node N "
    "$(which paddle-electra) predict --data-file FILE --output OUT ...`: each process predicts every "
    "N-th example and the first writes OUT, in input order"
)
DEFAULT_SHARD_TIMEOUT = 3600.0


def add_evaluate_and_predict(sub):
    from paddle_electra.tasks.registry import TASK_NAMES

    for command, about in (("evaluate", EVALUATE), ("predict", PREDICT)):
        p = sub.add_parser(command, help=about.split(" (")[0].split(" as JSON")[0], description=about)
        p.add_argument(
            "--task",
            choices=TASK_NAMES,
            metavar="TASK",
            help="the model's task (default: the one saved with it)",
        )
        add_model_option(p, "directory written by `paddle-electra finetune`", required=True)
        if command == "predict":
            p.add_argument(
                "--data-file", help="file in the task's format, labels ignored (default or '-': stdin)"
            )
            add_output_option(p, "write the JSON Lines here instead of stdout", canonical="--output")
            p.add_argument(
                "--shard-timeout",
                type=float,
                default=DEFAULT_SHARD_TIMEOUT,
                help="under paddle.distributed.launch: seconds the first process waits for the others' "
                f"shards after its own (default {DEFAULT_SHARD_TIMEOUT:g})",
            )
        else:
            p.add_argument("--data-file", required=True, help="labelled file in the task's format")
            p.add_argument(
                "--report",
                action="store_true",
                help="classification: a per-class precision / recall / f1 table",
            )
        p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
        p.add_argument("--max-seq-length", type=int, help="tokens per example (default: the training length)")
        add_dataclass_arguments(p, FinetuneOptions, names=COLUMN_FIELDS + QA_FIELDS + ("encoding",))
        add_runtime_options(p)
        p.set_defaults(func=_evaluate if command == "evaluate" else _predict)


def _options_set(args, names):
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _evaluate(args):
    from paddle_electra.training.finetune import evaluate

    metrics = evaluate(
        args.task,
        args.model,
        args.data_file,
        args.batch_size,
        args.max_seq_length,
        _options_set(args, QA_FIELDS),
        runtime_options(args),
        report=args.report,
        task_options=_options_set(args, COLUMN_FIELDS),
        encoding=args.encoding,
    )
    table = metrics.pop("per_class", None)
    if table:
        width = max(len(label) for label in table)
        print(f"{'label'.ljust(width)}  precision  recall     f1  support")
        for label, row in table.items():
            print(
                f"{label.ljust(width)}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  "
                f"{row['support']:7d}"
            )
    print(json.dumps(metrics, ensure_ascii=False))


def _predict(args):
    from paddle_electra.training.distributed_predict import launched
    from paddle_electra.training.finetune import predict

    world, rank, local = launched()
    if world > 1:
        return _predict_distributed(args, world, rank, local)
    lines = _stdin(args.encoding) if args.data_file in (None, "-") else None
    records = predict(
        args.task,
        args.model,
        None if lines else args.data_file,
        args.batch_size,
        args.max_seq_length,
        _options_set(args, QA_FIELDS),
        runtime_options(args),
        lines=lines,
        task_options=_options_set(args, COLUMN_FIELDS),
        encoding=args.encoding,
    )
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if not args.output:
        sys.stdout.write(text)
        return
    partial = args.output + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, args.output)
    print(f"wrote {len(records)} predictions to {args.output}", file=sys.stderr)


def _predict_distributed(args, world, rank, local):
    """Process `rank` of `world` under paddle.distributed.launch: its share of the examples; the
    first process writes --output (training.distributed_predict)."""
    from paddle_electra.training.distributed_predict import predict_distributed, threads_per_process
    from paddle_electra.training.finetune import predict

    if args.data_file in (None, "-") or not args.output:
        raise UsageError(
            f"predict over {world} processes reads --data-file FILE and writes --output FILE "
            "(not stdin / stdout): pass both"
        )
    if not os.path.isfile(args.data_file):
        raise UsageError(f"--data-file {args.data_file} not found")
    runtime = runtime_options(args)
    runtime["threads"] = runtime["threads"] or threads_per_process(local)

    def shard():
        return predict(
            args.task,
            args.model,
            args.data_file,
            args.batch_size,
            args.max_seq_length,
            _options_set(args, QA_FIELDS),
            runtime,
            task_options=_options_set(args, COLUMN_FIELDS),
            encoding=args.encoding,
            shard=(rank, world),
        )

    count = predict_distributed(args.output, shard, world, rank, args.shard_timeout)
    if count is not None:
        print(f"wrote {count} predictions to {args.output} ({world} processes)", file=sys.stderr)


def _stdin(encoding):
    """Standard input decoded as `encoding` (a BOM accepted for UTF-8), one line at a time."""
    from paddle_electra.tasks.readers import codec, decoded

    stream = sys.stdin
    if hasattr(sys.stdin, "buffer"):
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding=codec(encoding))
    return decoded(stream, "<stdin>", encoding)


PRETRAIN_DESCRIPTION = (
    "Replaced-token-detection pretraining: a generator (MLM) and a discriminator sharing embeddings; "
    "loss = MLM + 50 x RTD. Resumes from the newest OUTPUT/checkpoint-N. Writes OUTPUT/generator and "
    "OUTPUT/discriminator (usable by finetune, fill-mask, rtd, hub pack) and OUTPUT/log.jsonl. Data-parallel "
    "over several processes or GPUs with `python -m paddle.distributed.launch --nproc_per_node N $(which "
    "paddle-electra) pretrain ...`: each process trains on its own shard of the corpus, the first one saves."
)


def add_pretrain(sub):
    pt = sub.add_parser(
        "pretrain",
        help="continue (or start) ELECTRA pretraining on plain text",
        description=PRETRAIN_DESCRIPTION,
    )
    pt.add_argument(
        "--corpus", nargs="+", required=True, help="UTF-8 text files, one document or sentence per line"
    )
    add_dataclass_arguments(pt, PretrainOptions, names=("corpus_dir",))
    add_output_option(
        pt, "output directory (checkpoints, log, final models)", canonical="--output", required=True
    )
    add_dataclass_arguments(pt, PretrainOptions, skip=("corpus_dir",))
    pt.set_defaults(func=_pretrain)


def _pretrain(args):
    from paddle_electra.training.pretraining import pretrain

    missing = [path for path in args.corpus if not os.path.isfile(path)]
    if missing:
        raise UsageError(f"corpus file {missing[0]} not found: pass UTF-8 text files with --corpus")
    if args.init:
        discriminator = os.path.join(args.init, "discriminator")
        model_dir(discriminator if os.path.isdir(discriminator) else args.init)
    try:
        last = pretrain(args.corpus, args.output, options=dataclass_from_args(PretrainOptions, args))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if last is None:  # data-parallel: another process saved
        return
    print(f"generator: {os.path.join(args.output, 'generator')}")
    print(f"discriminator: {os.path.join(args.output, 'discriminator')}")
    print(json.dumps(last))
