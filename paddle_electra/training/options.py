"""The options of `finetune` and `pretrain`, declared once: `FinetuneOptions`, `PretrainOptions`.

Each field holds its default, and in its metadata its help text and how the command line spells it;
`paddle-electra finetune` / `pretrain` build their flags from the fields
(`paddle_electra.cli.options.add_dataclass_arguments`) and hand one object to the training function,
which also takes the same names as keywords: `finetune(task, model, output=..., epochs=1)`.

Metadata keys (`option()` writes them):

- `help`: what the option does, in plain text.
- `flag`: the command-line flag; by default `--` and the name with dashes, None: Python only.
  A bool field is a switch: `--name` sets True, or with default True the flag (`--no-...`) sets False.
- `group`: the section of the command's help the flag is listed in (default: the command's own options).
- `flags`: {flag: (value, help)}: instead of one flag, one per value, at most one of them given.
- `choices`, `nargs`, `const`, `metavar`: as in argparse; `minimum`: the smallest whole number
  the command line accepts.
"""

import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

from paddle_electra.tasks.windows import LONG_TEXT

COLUMNS = "text-classification columns (CSV / TSV header names, JSON Lines keys)"
TRAINER = "training (paddlenlp Trainer options)"
READING_COMPREHENSION = "reading comprehension (defaults as the original ELECTRA/BERT code)"
MULTI_LABEL = "multi-label classification"

FAST_CPU_HELP = (
    "on CPU, train with Paddle's own kernels and defaults (1 math thread) instead of the fast "
    "default: every usable core, bias gradients as GEMMs and fused C kernels for each Transformer "
    "layer (same function, faster: docs/benchmarks.md measures both)"
)


def option(default, help, flag="", group=None, **details):
    """A dataclass field with `default`; `help`, `flag` ("": from the name; None: no flag), `group`
    and the other command-line `details` (module docstring) in its metadata."""
    metadata = {"help": help, "group": group, **details}
    if flag != "":
        metadata["flag"] = flag
    return dataclasses.field(default=default, metadata=metadata)


# Fields that say how the task reads and encodes the files (saved with the fine-tuned model).
COLUMN_FIELDS = ("text_column", "text_pair_column", "label_column", "long_text")
COLUMN_FIELDS += ("label_separator", "threshold")  # multi-label classification (evaluate / predict take them)
QA_FIELDS = ("max_query_length", "doc_stride", "n_best_size", "max_answer_length")
HEAD_FIELDS = ("classifier_head", "qa_head")


@dataclass
class FinetuneOptions:
    """How `finetune` reads the files, builds the head and trains (the task, model, data directory
    and output directory are its own arguments). Fields in the order of `paddle-electra finetune --help`."""

    train_file: Optional[str] = option(None, "training file (CSV / TSV / JSON Lines, CoNLL, SQuAD json)")
    dev_file: Optional[str] = option(
        None, "dev file in the same format: evaluated each epoch, picks the best checkpoint"
    )
    test_file: Optional[str] = option(
        None, "test file in the same format: evaluated with the saved model (with --seeds: every run)"
    )
    seeds: Optional[str] = option(
        None,
        "repeated trials: one run per seed, e.g. 1,2,3 (each kept in OUTPUT/seed-N, the best on dev copied "
        "to OUTPUT; a table of every run's dev and test metrics with their mean, std and max)",
    )
    trials: Optional[int] = option(
        None, "repeated trials with N seeds: --seed, --seed + 1, ... (as --seeds)", minimum=1
    )
    epochs: float = option(3.0, "training epochs (default 3)")
    max_steps: int = option(-1, "stop after this many steps (default: all epochs)")
    learning_rate: float = option(1e-4, "peak learning rate (ELECTRA: 3e-4 small, 1e-4 base; default 1e-4)")
    batch_size: int = option(32, "training batch size (default 32)")
    max_seq_length: int = option(
        128,
        "tokens per example, [CLS]/[SEP] included (default 128; "
        "saved with the model as evaluate's and predict's default)",
    )
    seed: int = option(42, "random seed (default 42)")
    layerwise_lr_decay: Optional[float] = option(
        None, "ELECTRA's layer-wise learning-rate decay, e.g. 0.8 (default: off)"
    )
    label_all_tokens: bool = option(False, "tagging: label every sub-token, not only the first")
    classifier_head: Optional[str] = option(
        None, "classification head (default original)", choices=["original", "two_layer"]
    )
    qa_head: Optional[str] = option(
        None, "reading-comprehension head (default original)", choices=["original", "linear"]
    )
    text_column: Optional[str] = option(
        None,
        "the text (default: the first of text, text_a, sentence, sentence1, content, review)",
        group=COLUMNS,
    )
    text_pair_column: Optional[str] = option(
        None, "the second text of a pair (default: text_b or sentence2 when present)", group=COLUMNS
    )
    label_column: Optional[str] = option(
        None, "the label (default: label); labels are any strings or integers", group=COLUMNS
    )
    label_separator: Optional[str] = option(
        None, "between the labels of one CSV / TSV cell (default |; or a JSON list)", group=MULTI_LABEL
    )
    threshold: Optional[float] = option(
        None, "a label is predicted at this probability (default 0.5, or the tuned one)", group=MULTI_LABEL
    )
    tune_threshold: bool = option(
        False, "pick the threshold that maximizes micro-F1 on the dev file (saved)", group=MULTI_LABEL
    )
    encoding: str = option(
        "utf-8",
        "encoding of the data files (default utf-8, a BOM accepted; e.g. gb18030 for a CSV that Excel "
        "saved on Chinese Windows)",
    )
    long_text: Optional[str] = option(
        None,
        "a text longer than --max-seq-length: classification reads it in overlapping windows (window, "
        "its default; --doc-stride tokens apart, default half a window; the windows' logits averaged); "
        "tagging reads it sentence by sentence (sentences, its default: cut after 。！？!?, a longer "
        "sentence in windows) or in windows over the whole text (window: each token from the window "
        "where it has the most context); truncate cuts it",
        choices=list(LONG_TEXT),
    )
    warmup_ratio: float = option(0.1, "share of steps with linear warm-up (default 0.1)", group=TRAINER)
    weight_decay: float = option(0.01, "AdamW weight decay (default 0.01)", group=TRAINER)
    gradient_accumulation_steps: int = option(
        1, "batches whose gradients are summed per optimizer step (default 1)", group=TRAINER
    )
    logging_steps: int = option(50, "log loss and learning rate every N steps (default 50)", group=TRAINER)
    log_file: Optional[str] = option(
        None,
        "JSON Lines log of loss, learning rate and dev metrics (default OUTPUT/train_log.jsonl)",
        group=TRAINER,
    )
    eval_steps: Optional[int] = option(
        None, "evaluate on the dev file every N steps (default: every epoch)", group=TRAINER
    )
    save_steps: Optional[int] = option(
        None,
        "save a checkpoint (OUTPUT/checkpoint-N) every N steps (default: with each "
        "evaluation; none without a dev file)",
        group=TRAINER,
    )
    metric_for_best_model: Optional[str] = option(
        None,
        "dev metric that picks the best checkpoint (default: accuracy for "
        "classification, f1 for tagging and QA; e.g. macro_f1, em)",
        group=TRAINER,
    )
    early_stopping_patience: Optional[int] = option(
        None, "stop after N evaluations without a better dev metric", group=TRAINER
    )
    resume_from_checkpoint: Union[bool, str, None] = option(
        None,
        "continue from OUTPUT's newest checkpoint-N (or from the checkpoint directory given)",
        group=TRAINER,
        nargs="?",
        const=True,
    )
    fp16: bool = option(
        False, "fp16 mixed precision (Paddle AMP through the Trainer; CUDA GPU only)", group=TRAINER
    )
    bf16: bool = option(
        False, "bf16 mixed precision (Paddle AMP through the Trainer; CUDA GPU only)", group=TRAINER
    )
    fast_cpu: bool = option(True, FAST_CPU_HELP, flag="--no-fast-cpu")
    max_query_length: Optional[int] = option(
        None, "question tokens kept (default 64)", group=READING_COMPREHENSION
    )
    doc_stride: Optional[int] = option(
        None,
        "tokens between the starts of windows (reading comprehension: default 128; long texts in "
        "classification and tagging: half a window)",
        group=READING_COMPREHENSION,
    )
    n_best_size: Optional[int] = option(
        None, "answers kept per question before choosing (default 20)", group=READING_COMPREHENSION
    )
    max_answer_length: Optional[int] = option(
        None, "longest answer in tokens (default 30)", group=READING_COMPREHENSION
    )

    def reading_options(self):
        """The task's reading and encoding options that are set: columns, QA settings, label_all_tokens."""
        options = {name: getattr(self, name) for name in COLUMN_FIELDS + QA_FIELDS}
        options = {name: value for name, value in options.items() if value is not None}
        if self.label_all_tokens:
            options["label_all_tokens"] = True
        if self.tune_threshold:
            options["tune_threshold"] = True
        return options

    def head_options(self):
        """The head choices that are set (classifier_head, qa_head), for `TaskKind.build`."""
        return {name: getattr(self, name) for name in HEAD_FIELDS if getattr(self, name)}


@dataclass
class PretrainOptions:
    """How `pretrain` starts, trains and saves (the corpus files and the output directory are its
    own arguments). Fields in the order of `paddle-electra pretrain --help`."""

    corpus_dir: Optional[str] = option(
        None,
        "where the corpus is tokenised to, once (memory-mapped token ids; default "
        "OUTPUT/corpus; reused while the files are unchanged)",
    )
    encoding: str = option(
        "utf-8", "encoding of the corpus files (default utf-8, a BOM accepted; e.g. gb18030)"
    )
    init: Optional[str] = option(
        None,
        "converted checkpoint (DIR with discriminator/ and generator/), a zoo name (both towers, fetched "
        "on first use) or an encoder / discriminator directory or Hub repo id",
    )
    model_size: Optional[str] = option(
        None,
        "from scratch at this Chinese-ELECTRA size (with --vocab)",
        choices=["small", "small-ex", "base", "large"],
    )
    vocab_file: Optional[str] = option(None, "vocab.txt for --model-size", flag="--vocab")
    steps: int = option(1000, "total training steps (default 1000)")
    batch_size: int = option(32, "sequences per step (default 32)")
    learning_rate: float = option(5e-4, "peak learning rate (default 5e-4, ELECTRA-small)")
    warmup_steps: Optional[int] = option(
        None, "linear warm-up steps (default 10% of --steps), then linear decay"
    )
    max_seq_length: int = option(128, "tokens per sequence (default 128)")
    mask_prob: float = option(0.15, "share of tokens selected for the generator (default 0.15)")
    save_every: int = option(500, "checkpoint every N steps (default 500)")
    save_total_limit: Optional[int] = option(
        None,
        "keep only the N newest checkpoints (default: every one); resuming needs the newest",
        minimum=1,
        metavar="N",
    )
    log_every: int = option(10, "log metrics every N steps (default 10)")
    seed: int = option(42, "random seed (default 42)")
    weight_decay: float = option(0.01, "AdamW weight decay (default 0.01)", flag=None)
    fast_cpu: bool = option(True, FAST_CPU_HELP, flag="--no-fast-cpu")
    precision: Optional[str] = option(
        None,
        'mixed precision: "float16" or "bfloat16" (`MixedPrecision`; CUDA GPU only; default: fp32)',
        flags={
            "--fp16": (
                "float16",
                "fp16 mixed precision with dynamic loss scaling (Paddle AMP; CUDA GPU only)",
            ),
            "--bf16": ("bfloat16", "bf16 mixed precision (Paddle AMP; CUDA GPU with bf16, e.g. A100/H100)"),
        },
    )
    amp_level: str = option(
        "O1",
        "with --fp16/--bf16: O1 (default) casts matmuls "
        "and the like to half precision; O2 keeps the whole model in half precision with fp32 master weights",
        choices=["O1", "O2"],
    )


def with_keywords(cls, options, keywords, caller):
    """`options` (a `cls`, or None: the defaults) with the fields named in `keywords` replaced; a
    TypeError names a keyword that is no field of `cls`, as for a function's own parameters."""
    if options is not None and not isinstance(options, cls):
        raise TypeError(f"{caller}(): options must be a {cls.__name__}, not {type(options).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [name for name in keywords if name not in names]
    if unknown:
        raise TypeError(
            f"{caller}() got an unexpected keyword argument {unknown[0]!r} (its options: the fields of "
            f"paddle_electra.training.options.{cls.__name__})"
        )
    return dataclasses.replace(options or cls(), **keywords)


def finetune_options(options=None, **keywords):
    """`with_keywords` for `finetune`; also takes the grouped keywords of earlier versions,
    `task_options` (e.g. {"text_column": "review"}) and `qa_options` (e.g. {"doc_stride": 64}),
    dicts of the reading fields (columns, QA settings, label_all_tokens)."""
    reading = COLUMN_FIELDS + QA_FIELDS + ("label_all_tokens",)
    for group in ("task_options", "qa_options"):
        grouped = keywords.pop(group, None) or {}
        for name in grouped:
            if name not in reading:
                raise TypeError(f"finetune(): {group} has no option {name!r} (known: {', '.join(reading)})")
            if name in keywords:
                raise TypeError(f"finetune(): {name!r} given twice (also in {group})")
        keywords.update(grouped)
    return with_keywords(FinetuneOptions, options, keywords, "finetune")


def pretrain_options(options=None, **keywords):
    """`with_keywords` for `pretrain`."""
    return with_keywords(PretrainOptions, options, keywords, "pretrain")
