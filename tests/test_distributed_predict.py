"""`predict` over several processes (training/distributed_predict.py): each process predicts every
N-th example, the first merges the shards into --output in input order, and no half-written output
ever appears. The protocol runs in threads here; the real thing under paddle's own launcher with 2
CPU processes on loopback, on a tiny fine-tuned model."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import DATA, TF_TINY

from paddle_electra.cli import main
from paddle_electra.training.distributed_predict import (
    DistributedPredictError,
    predict_distributed,
    shard_dir,
    shard_of,
)
from paddle_electra_convert import convert_tf_checkpoint

LAUNCH_TIMEOUT = 300  # seconds per launched run (about 20 s on 2 busy cores)


def _run_ranks(output, records_of, world, timeout=10.0):
    """predict_distributed in `world` threads (rank 0 in this one); {rank: result or exception}."""
    barrier = threading.Barrier(world, timeout=30)
    results = {}

    def rank_run(rank):
        try:
            results[rank] = predict_distributed(
                output, lambda: records_of(rank), world, rank, timeout, barrier=barrier.wait
            )
        except BaseException as e:  # noqa: BLE001 (the test looks at it)
            results[rank] = e

    threads = [threading.Thread(target=rank_run, args=(rank,)) for rank in range(1, world)]
    for thread in threads:
        thread.start()
    rank_run(0)
    for thread in threads:
        thread.join(30)
    return results


def _no_leftovers(output):
    return not os.path.exists(shard_dir(output)) and not os.path.exists(output + ".partial")


@pytest.mark.parametrize("world,total", [(2, 7), (3, 7), (3, 2), (4, 0)])
def test_shards_merge_back_into_input_order(tmp_path, world, total):
    records = [{"i": i, "text": f"第{i}行\u2028还是同一行"} for i in range(total)]  # U+2028: no line break
    output = str(tmp_path / "out.jsonl")
    os.makedirs(shard_dir(output))  # an interrupted earlier run's leftovers: cleared, never read
    (tmp_path / "out.jsonl.shards" / "rank-1.done").write_text("999\n")
    (tmp_path / "out.jsonl.partial").write_text("half")
    results = _run_ranks(output, lambda rank: shard_of(records, rank, world), world)
    assert results == {0: total, **{rank: None for rank in range(1, world)}}
    with open(output, encoding="utf-8", newline="") as f:
        assert [json.loads(line) for line in f] == records
    assert _no_leftovers(output)


def test_a_failed_rank_means_a_clear_error_and_no_output(tmp_path):
    output = str(tmp_path / "out.jsonl")

    def records_of(rank):
        if rank == 2:
            raise RuntimeError("disk on fire")
        if rank == 1:  # still working when the first process gives up and removes the shards
            time.sleep(1.5)
        return [{"rank": rank}]

    results = _run_ranks(output, records_of, 3)
    assert isinstance(results[0], DistributedPredictError)
    assert "rank 2 of 3 failed (RuntimeError: disk on fire): no output written" in str(results[0])
    assert isinstance(results[2], RuntimeError)
    # rank 1 is told why its shard has nowhere to go (it was a bare FileNotFoundError)
    assert isinstance(results[1], DistributedPredictError)
    assert "rank 1 of 3: the first process stopped (another rank failed)" in str(results[1])
    assert not os.path.exists(output) and _no_leftovers(output)


def test_a_missing_rank_times_out_and_a_wrong_shard_is_refused(tmp_path):
    output = str(tmp_path / "out.jsonl")
    with pytest.raises(DistributedPredictError, match=r"rank\(s\) 1 of 2 did not finish within 0.5 s"):
        predict_distributed(output, lambda: [{"a": 1}], 2, 0, timeout=0.5, barrier=lambda: None)
    assert not os.path.exists(output) and _no_leftovers(output)

    def records_of(rank):  # rank 1 read another file: 3 records where 0 or 1 belong
        return [{"rank": rank}] * (1 if rank == 0 else 3)

    results = _run_ranks(output, records_of, 2)
    assert "hold [1, 3] records, expected [2, 2] from 4 examples" in str(results[0])
    assert not os.path.exists(output) and _no_leftovers(output)


# ---- under paddle.distributed.launch ----------------------------------------------------------
@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """The tiny TF release fine-tuned for a few steps on ChnSentiCorp reviews (seconds)."""
    from paddle_electra.training.finetune import finetune

    root = tmp_path_factory.mktemp("distributed")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(root / "converted"), progress=False)
    data = root / "data"
    data.mkdir()
    with open(os.path.join(DATA, "chnsenticorp", "train.tsv"), encoding="utf-8") as f:
        (data / "train.tsv").write_text("".join(f.readlines()[:65]), encoding="utf-8")
    out = root / "model"
    finetune(
        "chnsenticorp",
        str(root / "converted" / "discriminator"),
        str(data),
        str(out),
        max_steps=4,
        batch_size=16,
        max_seq_length=64,
    )
    return str(out)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """41 real reviews (an odd count: the shares differ by one), the header line included."""
    path = tmp_path_factory.mktemp("reviews") / "dev.tsv"
    with open(os.path.join(DATA, "chnsenticorp", "dev.tsv"), encoding="utf-8") as f:
        path.write_text("".join(f.readlines()[:42]), encoding="utf-8")
    return str(path)


PREDICT = ["predict", "--batch-size", "8", "--max-seq-length", "64", "--backend", "paddle-inference"]


def _launch(tmp_path, program, argv):
    command = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "logs"),
        program,
        *argv,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    logs = "".join(
        (tmp_path / "logs" / f"workerlog.{rank}").read_text(errors="replace")
        for rank in (0, 1)
        if (tmp_path / "logs" / f"workerlog.{rank}").exists()
    )
    return result.returncode, result.stdout + result.stderr + logs


def _same(a, b):
    """One record as two runs give it: the engines' batches differ, so probabilities agree to 1e-4
    (and labels wherever the two classes are not within that of a tie)."""
    assert a["text"] == b["text"]
    assert a["probability"] == pytest.approx(b["probability"], abs=1e-4)
    assert a["label"] == b["label"] or abs(a["probability"] - 0.5) < 1e-4


def test_two_processes_write_what_one_process_writes(finetuned, reviews, tmp_path):
    single = tmp_path / "single.jsonl"
    argv = PREDICT + ["--model", finetuned, "--data-file", reviews]
    assert main(argv + ["--output", str(single)]) == 0  # also leaves the export in the shared cache
    expected = [json.loads(line) for line in single.read_text(encoding="utf-8").splitlines()]
    assert len(expected) == 41

    merged = tmp_path / "merged.jsonl"
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    code, output = _launch(tmp_path, exe, argv + ["--output", str(merged)])
    assert code == 0, output[-4000:]
    assert "wrote 41 predictions to" in output and "(2 processes)" in output
    records = [json.loads(line) for line in merged.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(expected)
    for got, want in zip(records, expected):
        _same(got, want)
    assert _no_leftovers(str(merged))


FAILING = """import os, sys
from paddle_electra.training import finetune
if os.environ.get("PADDLE_TRAINER_ID") == "1":
    def fail(*args, **kwargs):
        raise RuntimeError("injected failure on rank 1")
    finetune.predict = fail
from paddle_electra.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_process_leaves_no_output(finetuned, reviews, tmp_path):
    program = tmp_path / "failing.py"
    program.write_text(FAILING)
    merged = tmp_path / "merged.jsonl"
    argv = PREDICT + ["--model", finetuned, "--data-file", reviews, "--output", str(merged)]
    code, output = _launch(tmp_path, str(program), argv)
    assert code != 0 and "RuntimeError: injected failure on rank 1" in output, output[-4000:]
    assert not merged.exists() and _no_leftovers(str(merged))


def test_distributed_predict_needs_files(monkeypatch, capsys, reviews):
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    monkeypatch.setenv("PADDLE_TRAINER_ID", "1")
    assert main(["predict", "--model", "m", "--data-file", reviews]) == 2
    assert (
        "predict over 2 processes reads --data-file FILE and writes --output FILE" in capsys.readouterr().err
    )


def test_each_launched_process_runs_on_its_own_gpu(monkeypatch):
    """`launch --gpus 0,1` gives each process its GPU in FLAGS_selected_gpus (not CUDA_VISIBLE_DEVICES):
    Paddle Inference takes that one, not always GPU 0."""
    from paddle_electra.runtime.engines import gpu_id

    monkeypatch.delenv("FLAGS_selected_gpus", raising=False)
    assert gpu_id() == 0
    monkeypatch.setenv("FLAGS_selected_gpus", "3")
    assert gpu_id() == 3
    monkeypatch.setenv("FLAGS_selected_gpus", "2,3")
    assert gpu_id() == 2
