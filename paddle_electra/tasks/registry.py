"""The one place where task kinds are registered (`KINDS`, by their `--task` name) and the seed
datasets are defined as presets of them (`PRESETS`: a fixed label set and the dataset's reader).

Kind (`--task`): files; head; metrics.

- `text-classification`: CSV / TSV / JSON Lines (`read_table`); ElectraForSequenceClassification;
  accuracy, macro_f1
- `token-classification`: CoNLL `token tag` lines or MSRA tsv; ElectraForTokenClassification;
  entity precision / recall / f1
- `question-answering`: SQuAD json (v1; v2 `is_impossible` with the original head);
  ElectraForQuestionAnswering; CMRC em / f1
- `multiple-choice`: C3 json or JSON Lines; ElectraForMultipleChoice; accuracy
- `text-regression`: CSV / TSV / JSON Lines with a numeric label; ElectraForSequenceClassification
  (problem_type regression); pearson, spearman, mse
- `multi-label-classification`: label lists (JSON Lines) or separated labels; ElectraForSequenceClassification
  (problem_type multi_label_classification); micro_f1, macro_f1, exact_match

A generic task reads its label set from the training file; it is saved in the model's config
(`id2label`, `label2id`, `task`, `task_options`) and read back by evaluate / predict / the hub layer.
"""

from functools import partial

from paddle_electra.tasks.classification import TextClassification
from paddle_electra.tasks.multi_label import MultiLabelClassification
from paddle_electra.tasks.multiple_choice import MultipleChoice
from paddle_electra.tasks.question_answering import QuestionAnswering
from paddle_electra.tasks.readers import XNLI_LABELS, DataError, read_classification, read_xnli
from paddle_electra.tasks.regression import TextRegression
from paddle_electra.tasks.tagging import TokenClassification

KINDS = {k.kind: k for k in (TextClassification, TokenClassification, QuestionAnswering, MultipleChoice)}
KINDS.update({k.kind: k for k in (TextRegression, MultiLabelClassification)})
MSRA_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
# The seed tasks: a kind with a fixed label set and the dataset's own reader.
PRESETS = {
    "chnsenticorp": lambda: TextClassification("chnsenticorp", ("0", "1"), reader=read_classification),
    "lcqmc": lambda: TextClassification("lcqmc", ("0", "1"), reader=partial(read_classification, pair=True)),
    "bq_corpus": lambda: TextClassification(
        "bq_corpus", ("0", "1"), reader=partial(read_classification, pair=True)
    ),
    "xnli": lambda: TextClassification("xnli", XNLI_LABELS, reader=read_xnli),
    "msra_ner": lambda: TokenClassification("msra_ner", MSRA_TAGS),
    "cmrc2018": lambda: QuestionAnswering("cmrc2018"),
    "drcd": lambda: QuestionAnswering("drcd"),
}
TASK_NAMES = tuple(KINDS) + tuple(PRESETS)


def get_task(name, **options):
    """The task object for a kind (`text-classification`, ...) or a seed preset, with `options`
    (those that are None are left out)."""
    options = {k: v for k, v in options.items() if v is not None}
    if name in PRESETS:
        task = PRESETS[name]()
        task.options.update(options)
        return task
    if name not in KINDS:
        raise DataError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}")
    return KINDS[name](**options)


def task_of_config(config, name=None, **options):
    """The task a fine-tuned model was trained for, from its config.json dict (labels included);
    `name`, when given, must be that task. `options` override the saved ones (e.g. columns)."""
    trained = config.get("task")
    if trained is None:
        raise DataError(
            "the model has no task in its config.json: pass a directory written by `paddle-electra finetune`"
        )
    if name is not None and name != trained:
        raise DataError(f"the model was fine-tuned for task {trained!r}, not {name!r}: pass --task {trained}")
    task = get_task(
        trained,
        **{**(config.get("task_options") or {}), **{k: v for k, v in options.items() if v is not None}},
    )
    id2label = config.get("id2label") or {}
    if task.needs_labels and not task.fixed:
        task.labels = tuple(id2label[k] for k in sorted(id2label, key=int))
    return task


def read_task(task, path):
    """Examples of a task's file (`get_task(task).read(path)`)."""
    return get_task(task).read(path)
