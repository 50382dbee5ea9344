"""Task kinds: how a labelled file becomes model inputs, and model outputs become predictions and scores.

- `readers.py`: CSV / TSV / JSON Lines, CoNLL, SQuAD and the seed datasets' files, with one-line errors.
- `base.py`: `TaskKind`, what every kind knows (read, label set, encode, build its head, decode,
  score, format).
- `classification.py`, `tagging.py`, `question_answering.py`: the kinds.
- `registry.py`: the one place kinds are registered (`KINDS`) and seed datasets are presets (`PRESETS`).
- `squad.py`: SQuAD-style windows and answer post-processing; `metrics.py`: the official metrics.
"""

from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.question_answering import QA_DEFAULTS
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import KINDS, PRESETS, TASK_NAMES, get_task, task_of_config

__all__ = [
    "TaskKind",
    "KINDS",
    "PRESETS",
    "TASK_NAMES",
    "QA_DEFAULTS",
    "get_task",
    "task_of_config",
    "DataError",
]
