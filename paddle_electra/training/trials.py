"""Repeated trials: the same recipe once per seed, as Chinese-ELECTRA's tables report results
("max (mean)" over runs) and the original ELECTRA code repeats its fine-tuning runs.

    finetune("text-classification", "converted/discriminator", output="runs/x", train_file=...,
             dev_file=..., seeds="1,2,3")        # or trials=3: seeds --seed, --seed + 1, ...

Each run is a whole `finetune` in OUTPUT/seed-N. The run with the best dev metric (the task's, or
`metric_for_best_model`) is copied to OUTPUT as the model; OUTPUT/trials.json holds every run's
dev (and test) metrics and their mean, standard deviation and max.
"""

import json
import logging
import os
import shutil

import numpy as np

from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import get_task

logger = logging.getLogger(__name__)


def trial_seeds(options):
    """The seeds of `options`: `seeds` ("1,2,3"), or `trials` seeds from `seed` on."""
    if options.seeds and options.trials:
        raise DataError("pass either --seeds 1,2,3 or --trials N, not both")
    if options.trials:
        return [options.seed + k for k in range(options.trials)]
    try:
        seeds = [int(s) for s in str(options.seeds).split(",") if s.strip()]
    except ValueError:
        raise DataError(
            f"--seeds takes whole numbers separated by commas, e.g. 1,2,3, got {options.seeds!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise DataError(f"--seeds needs distinct seeds, e.g. 1,2,3, got {options.seeds!r}")
    return seeds


def finetune_trials(task, model, data_dir, output, options):
    """One `finetune` per seed (see the module docstring); returns the summary also written to
    OUTPUT/trials.json, or None on the non-saving processes of a data-parallel run."""
    from paddle_electra.training.finetune import finetune

    if output is None:
        raise DataError("no output directory: pass --output DIR")
    seeds = trial_seeds(options)
    metric = options.metric_for_best_model or (task if isinstance(task, TaskKind) else get_task(task)).metric
    runs = []
    for number, seed in enumerate(seeds, start=1):
        logger.info("trial %d of %d: seed %d", number, len(seeds), seed)
        run_dir = os.path.join(output, f"seed-{seed}")
        metrics = finetune(
            task, model, data_dir, run_dir, options=options, seed=seed, seeds=None, trials=None
        )
        if metrics is not None:  # None: a data-parallel process that does not save (it runs every seed too)
            runs.append({"seed": seed, "dir": run_dir, "dev": _plain(metrics), "test": metrics.get("test")})
    if not runs:
        return None
    best = max(runs, key=lambda run: run["dev"].get(metric, float("-inf")))
    _copy_model(best["dir"], output)
    summary = {"metric": metric, "best_seed": best["seed"], "runs": runs, **_statistics(runs)}
    with open(os.path.join(output, "trials.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
    return summary


def _plain(metrics):
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _statistics(runs):
    """{"dev": {metric: {"mean", "std", "max"}}, "test": ...} over the runs (std: population)."""
    out = {}
    for split in ("dev", "test"):
        values = [run[split] for run in runs if run[split]]
        if values:
            keys = [k for k in values[0] if isinstance(values[0][k], (int, float))]
            out[split] = {
                k: {
                    "mean": float(np.mean([v[k] for v in values])),
                    "std": float(np.std([v[k] for v in values])),
                    "max": float(np.max([v[k] for v in values])),
                }
                for k in keys
            }
    return out


def _copy_model(run_dir, output):
    """The best run's model files (not its checkpoints) into OUTPUT."""
    for name in os.listdir(run_dir):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(output, name))


def trials_table(summary):
    """Markdown lines: one row per seed (dev, test metrics), then mean, std and max."""
    splits = [s for s in ("dev", "test") if s in summary]
    columns = [(s, k) for s in splits for k in summary[s]]
    lines = [
        "| seed | " + " | ".join(f"{s} {k}" for s, k in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for run in summary["runs"]:
        mark = " (best)" if run["seed"] == summary["best_seed"] else ""
        lines.append(
            f"| {run['seed']}{mark} | "
            + " | ".join(f"{(run[s] or {}).get(k, float('nan')):.4f}" for s, k in columns)
            + " |"
        )
    for stat in ("mean", "std", "max"):
        lines.append(f"| {stat} | " + " | ".join(f"{summary[s][k][stat]:.4f}" for s, k in columns) + " |")
    return lines
