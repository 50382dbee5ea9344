"""Repeated trials: `finetune --seeds 1,2` (or `--trials N`) runs the recipe once per seed, keeps
each run, reports every run's dev and test metrics with their mean, std and max, and keeps the best."""

import json
import os

import numpy as np
import pytest
from conftest import DATA, TF_TINY

from paddle_electra.cli import main
from paddle_electra.tasks import DataError
from paddle_electra.training.options import FinetuneOptions
from paddle_electra.training.trials import trial_seeds
from paddle_electra_convert import convert_tf_checkpoint

SMP = os.path.join(DATA, "smp2020_ewect_virus")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("trials") / "converted"
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(out), progress=False)
    return str(out / "discriminator")


def test_seeds_come_from_the_list_or_the_count():
    assert trial_seeds(FinetuneOptions(seeds="3, 1,2")) == [3, 1, 2]
    assert trial_seeds(FinetuneOptions(trials=3, seed=42)) == [42, 43, 44]
    for bad in ("1,1", "a,b", ","):
        with pytest.raises(DataError, match="--seeds"):
            trial_seeds(FinetuneOptions(seeds=bad))
    with pytest.raises(DataError, match="not both"):
        trial_seeds(FinetuneOptions(seeds="1,2", trials=2))


def test_finetune_with_seeds_keeps_every_run_and_reports_mean_std_max(tiny, tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["finetune", "--task", "text-classification", "--model", tiny, "--output", str(out)]
    files = ["--train-file", os.path.join(SMP, "train.csv"), "--dev-file", os.path.join(SMP, "dev.csv")]
    files += ["--test-file", os.path.join(SMP, "dev.csv")]
    assert main(argv + files + ["--seeds", "1,2", "--max-steps", "2", "--max-seq-length", "32"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert [run["seed"] for run in summary["runs"]] == [1, 2] and summary["metric"] == "accuracy"
    table = [line for line in printed.splitlines() if line.startswith("|")]
    assert (
        table[0].startswith("| seed | dev accuracy | dev macro_f1 | test accuracy")
        and len(table) == 2 + 2 + 3
    )
    for split in ("dev", "test"):
        for key, stats in summary[split].items():
            values = [run[split][key] for run in summary["runs"]]
            assert stats == pytest.approx(
                {"mean": np.mean(values), "std": np.std(values), "max": max(values)}
            )
    best = max(summary["runs"], key=lambda run: run["dev"]["accuracy"])
    assert summary["best_seed"] == best["seed"]
    for seed in (1, 2):
        assert (out / f"seed-{seed}" / "model.safetensors").is_file()
    assert (out / "model.safetensors").read_bytes() == (
        out / f"seed-{best['seed']}" / "model.safetensors"
    ).read_bytes()
    assert json.loads((out / "trials.json").read_text()) == summary
    assert (
        main(["evaluate", "--model", str(out), "--data-file", os.path.join(SMP, "dev.csv")]) == 0
    )  # the kept model
