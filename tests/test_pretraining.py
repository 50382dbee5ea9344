"""Continued pretraining: masking as the original, the loss formula on the original code's logits,
learning, exact save/resume, starting from a converted checkpoint, an encoder, or scratch."""

import json
import os

import numpy as np
import paddle
import pytest
from conftest import to_tensors

from paddle_electra import ElectraDiscriminator, ElectraGenerator
from paddle_electra.cli import main
from paddle_electra.models.modeling import labelled_cross_entropy
from paddle_electra.pipelines import FillMask
from paddle_electra.training.pretraining import discriminator_loss, mask_tokens, mlm_loss

CLS, SEP, PAD, MASK = 101, 102, 0, 103


def test_masking_follows_the_original():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=2000)
    ids = np.zeros((2000, 120), dtype="int64")
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1000, 2000, size=n)
        ids[i, 0], ids[i, n - 1] = CLS, SEP
        mask[i, :n] = 1
    masked, labels = mask_tokens(ids, mask, {CLS, SEP, PAD}, MASK, rng)
    selected = labels != -100
    assert np.array_equal(
        selected.sum(1), np.maximum(1, np.round(lengths * 0.15)).astype(int)
    )  # 15% of real tokens
    assert not selected[np.isin(ids, [CLS, SEP, PAD])].any()  # never [CLS], [SEP] or padding
    assert np.array_equal(labels[selected], ids[selected])
    share = (masked[selected] == MASK).mean()
    assert 0.83 < share < 0.87  # 85% [MASK], the rest kept as they are
    assert np.array_equal(masked[selected & (masked != MASK)], ids[selected & (masked != MASK)])
    assert np.array_equal(masked[~selected], ids[~selected])


def test_labelled_cross_entropy_ignores_unlabelled_positions():
    loss = labelled_cross_entropy(paddle.zeros([1, 4, 10]), paddle.to_tensor([[1, -100, -100, 3]]))
    assert float(loss) == pytest.approx(np.log(10), abs=1e-6)


def test_losses_equal_the_original_formula_on_the_original_logits(converted_shared, shared_tf_dir):
    """Losses of our models on the fixture's inputs = the original formulas applied to the original
    code's logits (reference.npz): mean MLM cross entropy over selected positions, mean sigmoid cross
    entropy over real tokens."""
    ref = np.load(os.path.join(shared_tf_dir, "reference.npz"))
    ids, types, mask = (
        ref["input_ids"].astype("int64"),
        ref["segment_ids"].astype("int64"),
        ref["input_mask"].astype("int64"),
    )
    rng = np.random.default_rng(1)
    labels = np.where((mask == 1) & (rng.random(ids.shape) < 0.3), rng.integers(0, 588, ids.shape), -100)
    replaced = (mask == 1) & (rng.random(ids.shape) < 0.2)
    generator = ElectraGenerator.from_pretrained(os.path.join(converted_shared, "generator"))
    discriminator = ElectraDiscriminator.from_pretrained(os.path.join(converted_shared, "discriminator"))
    generator.eval(), discriminator.eval()
    ours_mlm = float(mlm_loss(generator(*to_tensors(ids, types, mask)), paddle.to_tensor(labels)))
    ours_disc = float(
        discriminator_loss(
            discriminator(*to_tensors(ids, types, mask)), paddle.to_tensor(replaced), paddle.to_tensor(mask)
        )
    )

    logits = ref["gen_logits"].astype(np.float64)
    log_probs = (
        logits
        - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - logits.max(-1, keepdims=True)
    )
    chosen = labels != -100
    expected_mlm = -log_probs[chosen, labels[chosen]].mean()
    z, y = ref["rtd_logits"].astype(np.float64), replaced.astype(np.float64)
    per_token = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    expected_disc = per_token[mask == 1].mean()
    assert ours_mlm == pytest.approx(expected_mlm, abs=1e-5)
    assert ours_disc == pytest.approx(expected_disc, abs=1e-5)


def test_mlm_logits_only_at_the_selected_positions(converted_shared, shared_tf_dir):
    """As the original's gather_positions: the generator's logits at `positions` equal its full
    logits there, and pretraining's fakes differ from the input only at selected positions, by the
    generator's samples; its MLM loss is the loss of the full logits over the same labels."""
    from paddle_electra.training.pretraining import ElectraPretrainingModel

    ref = np.load(os.path.join(shared_tf_dir, "reference.npz"))
    ids, types, mask = (
        ref["input_ids"].astype("int64"),
        ref["segment_ids"].astype("int64"),
        ref["input_mask"].astype("int64"),
    )
    generator = ElectraGenerator.from_pretrained(os.path.join(converted_shared, "generator"))
    discriminator = ElectraDiscriminator.from_pretrained(os.path.join(converted_shared, "discriminator"))
    generator.eval(), discriminator.eval()
    labels = np.where((mask == 1) & (np.random.default_rng(2).random(ids.shape) < 0.15), ids, -100)
    positions = paddle.to_tensor(np.argwhere(labels != -100))
    full = generator(*to_tensors(ids, types, mask)).numpy()
    some = generator(*to_tensors(ids, types, mask), positions=positions).numpy()
    np.testing.assert_allclose(some, full[labels != -100], atol=1e-5)

    model = ElectraPretrainingModel(generator, discriminator)
    paddle.seed(0)  # the Gumbel noise
    loss, out = model(*to_tensors(ids, types, mask), paddle.to_tensor(labels))
    assert float(out["gen_loss"]) == pytest.approx(
        float(mlm_loss(paddle.to_tensor(full), paddle.to_tensor(labels))), abs=1e-5
    )
    replaced, selected = out["replaced"].numpy(), labels != -100
    assert not replaced[~selected].any() and replaced[selected].any()


def _run(argv):
    assert main(["pretrain", "--batch-size", "8", "--max-seq-length", "48", "--log-every", "1"] + argv) == 0


def _log(output):
    with open(os.path.join(output, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_pretraining_from_an_encoder_lowers_the_loss(ltp_converted, corpus, tmp_path):
    """Real weights (LTP-tiny encoder -> discriminator, new generator of 1/4 width) on real reviews."""
    out = str(tmp_path / "pt")
    _run(
        [
            "--corpus",
            corpus,
            "--output",
            out,
            "--init",
            ltp_converted,
            "--steps",
            "14",
            "--learning-rate",
            "1e-3",
            "--warmup-steps",
            "2",
        ]
    )
    losses = [entry["loss"] for entry in _log(out)]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
    generator = ElectraGenerator.from_pretrained(os.path.join(out, "generator"))
    assert generator.config.hidden_size == 64 and generator.config.embedding_size == 128
    discriminator = ElectraDiscriminator.from_pretrained(os.path.join(out, "discriminator"))
    shared = "electra.embeddings.word_embeddings.weight"  # the towers still share their embeddings
    assert np.array_equal(generator.state_dict()[shared].numpy(), discriminator.state_dict()[shared].numpy())


def test_resume_reproduces_the_next_step_loss(converted_shared, corpus, tmp_path):
    out = str(tmp_path / "pt")
    args = [
        "--corpus",
        corpus,
        "--output",
        out,
        "--init",
        converted_shared,
        "--steps",
        "4",
        "--save-every",
        "2",
    ]
    _run(args)
    first = {entry["step"]: entry["loss"] for entry in _log(out)}
    for name in ("checkpoint-4", "generator", "discriminator"):
        import shutil

        shutil.rmtree(os.path.join(out, name))
    _run(args)  # resumes from checkpoint-2
    second = _log(out)[4:]
    assert [entry["step"] for entry in second] == [3, 4]
    for entry in second:
        assert entry["loss"] == pytest.approx(first[entry["step"]], abs=1e-6)


def test_continued_pretraining_output_works_with_the_pipelines(converted_shared, corpus, tmp_path):
    out = str(tmp_path / "pt")
    _run(["--corpus", corpus, "--output", out, "--init", converted_shared, "--steps", "2"])
    (candidates,) = FillMask.from_pretrained(os.path.join(out, "generator"))(["的一是[MASK]不了有"])[0]
    assert len(candidates) == 5 and all(0 <= p <= 1 for _, p in candidates)


def test_pretraining_from_scratch(ltp_dir, corpus, tmp_path, capsys):
    out = str(tmp_path / "pt")
    _run(
        [
            "--corpus",
            corpus,
            "--output",
            out,
            "--model-size",
            "small",
            "--vocab",
            os.path.join(ltp_dir, "vocab.txt"),
            "--steps",
            "1",
        ]
    )
    assert (
        ElectraDiscriminator.from_pretrained(os.path.join(out, "discriminator")).config.num_hidden_layers
        == 12
    )
    assert (
        main(["pretrain", "--corpus", corpus, "--output", str(tmp_path / "x"), "--model-size", "small"]) == 2
    )
    assert "--vocab" in capsys.readouterr().err


def test_tokenized_corpus_packs_the_text_and_shards_it(ltp_dir, corpus, tmp_path, capsys):
    """The memory-mapped corpus gives the sequences of tokenising every line and packing the stream
    (the in-memory definition), each process a contiguous share; it is tokenised once per content."""
    from paddle_electra.models.tokenizer import ElectraTokenizer
    from paddle_electra.training.corpus import PackedSequences, tokenize_corpus

    tokenizer = ElectraTokenizer.from_pretrained(ltp_dir)
    with open(corpus, encoding="utf-8") as f:
        stream = [
            i
            for line in f
            if line.strip()
            for i in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line.strip()))
        ]
    expected = [[CLS] + stream[i : i + 30] + [SEP] for i in range(0, len(stream), 30)]
    directory = str(tmp_path / "tokens")
    meta = tokenize_corpus([corpus, corpus], tokenizer, directory, progress=False)
    assert meta["tokens"] == 2 * len(stream) and meta["dtype"] == "uint16"
    sequences = PackedSequences(directory, tokenizer, max_seq_length=32)
    assert [list(sequences[i]) for i in range(len(expected) - 1)] == expected[
        :-1
    ]  # the second copy follows the first
    shards = [sequences.shard(rank, 3) for rank in range(3)]
    assert [s.start for s in shards] == [0, len(sequences) // 3, 2 * len(sequences) // 3] and shards[
        -1
    ].stop == len(sequences)
    assert [list(x) for s in shards for x in (s[i] for i in range(len(s)))] == [
        list(sequences[i]) for i in range(len(sequences))
    ]
    with pytest.raises(IndexError):
        shards[0][len(shards[0])]

    written = os.stat(os.path.join(directory, "tokens.bin")).st_mtime_ns
    assert tokenize_corpus([corpus, corpus], tokenizer, directory, progress=False) == meta
    assert (
        os.stat(os.path.join(directory, "tokens.bin")).st_mtime_ns == written
    )  # same files: not tokenised again
    assert tokenize_corpus([corpus], tokenizer, directory, progress=False)["tokens"] == len(
        stream
    )  # other files: again
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no text"):
        tokenize_corpus([str(empty)], tokenizer, str(tmp_path / "e"), progress=False)
    assert not os.listdir(tmp_path / "e")  # no half-written token file
    with pytest.raises(ValueError, match="fewer than the 4 processes"):
        PackedSequences(directory, tokenizer, max_seq_length=len(stream) + 2).shard(0, 4)


def test_data_parallel_pretraining_with_two_cpu_processes_resumes(ltp_converted, corpus, tmp_path):
    """paddle's own launcher, 2 CPU processes: each trains on its own shard, only the first logs and
    saves, and a data-parallel run resumed from a checkpoint repeats the first run's next losses."""
    import shutil
    import subprocess
    import sys

    out = tmp_path / "pt"
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")

    def launch(logs):
        command = [
            sys.executable,
            "-m",
            "paddle.distributed.launch",
            "--nnodes",
            "1",
            "--nproc_per_node",
            "2",
            "--log_dir",
            str(logs),
            exe,
            "pretrain",
            "--corpus",
            corpus,
            "--output",
            str(out),
            "--init",
            ltp_converted,
            "--steps",
            "4",
            "--save-every",
            "2",
            "--batch-size",
            "4",
            "--max-seq-length",
            "32",
            "--log-every",
            "1",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return [(logs / f"workerlog.{rank}").read_text(errors="replace") for rank in (0, 1)]

    logs = launch(tmp_path / "logs1")
    shares = [int(log.split(f"(rank {rank}: ")[1].split(" ")[0]) for rank, log in enumerate(logs)]
    assert (
        all("data-parallel pretraining over 2 processes" in log for log in logs)
        and abs(shares[0] - shares[1]) <= 1
    )
    assert '"step": 4' in logs[0] and '"step": 4' not in logs[1]  # only the first process reports
    first = {entry["step"]: entry["loss"] for entry in _log(out)}
    assert sorted(first) == [1, 2, 3, 4] and sorted(os.listdir(out / "corpus")) == ["meta.json", "tokens.bin"]
    assert ElectraDiscriminator.from_pretrained(str(out / "discriminator")).config.hidden_size == 256

    for name in ("checkpoint-4", "generator", "discriminator"):
        shutil.rmtree(out / name)
    logs = launch(tmp_path / "logs2")
    assert all("resuming from" in log and "checkpoint-2 at step 2" in log for log in logs)
    resumed = _log(out)[4:]
    assert [entry["step"] for entry in resumed] == [3, 4]
    for entry in resumed:
        assert entry["loss"] == pytest.approx(first[entry["step"]], abs=1e-5)


def test_save_total_limit_keeps_the_newest_checkpoints(converted_shared, corpus, tmp_path):
    out = str(tmp_path / "pt")
    args = [
        "--corpus",
        corpus,
        "--output",
        out,
        "--init",
        converted_shared,
        "--save-every",
        "1",
        "--save-total-limit",
        "2",
    ]
    _run(args + ["--steps", "3"])
    assert sorted(n for n in os.listdir(out) if n.startswith("checkpoint-")) == [
        "checkpoint-2",
        "checkpoint-3",
    ]
    _run(args + ["--steps", "4"])  # resumes from the newest
    assert [entry["step"] for entry in _log(out)] == [1, 2, 3, 4]
    assert sorted(n for n in os.listdir(out) if n.startswith("checkpoint-")) == [
        "checkpoint-3",
        "checkpoint-4",
    ]
    with pytest.raises(SystemExit) as bad:
        main(["pretrain", "--corpus", corpus, "--output", out, "--save-total-limit", "0"])
    assert bad.value.code == 2


@pytest.mark.skipif(
    paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0,
    reason="a GPU is visible: tests/test_gpu.py trains with mixed precision there",
)
@pytest.mark.parametrize("flag", ["--fp16", "--bf16"])
def test_mixed_precision_without_a_gpu_is_a_one_line_error(flag, ltp_converted, corpus, tmp_path, capsys):
    """Paddle's AMP does nothing on a CPU: asking for it there fails instead of silently training in fp32."""
    out = tmp_path / "pt"
    assert (
        main(
            [
                "pretrain",
                "--corpus",
                corpus,
                "--output",
                str(out),
                "--init",
                ltp_converted,
                "--steps",
                "1",
                flag,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith(f"error: {flag}: mixed-precision training needs a CUDA GPU")
        and f"drop {flag}" in err[-1]
    )
    assert not out.exists()


def test_fp16_path_steps_like_fp32_and_keeps_its_loss_scale_across_a_resume(
    ltp_converted, corpus, tmp_path, monkeypatch
):
    """The wiring of --fp16, run on a CPU with the GPU check faked. Paddle disables AMP there (no op
    is cast, the loss scaler passes the loss through), so this checks the plumbing, not the numerics
    (tests/test_gpu.py does those): the flag reaches the scaler path, the steps equal fp32's, the
    scaler's state is saved with every checkpoint and handed back to it on resume."""
    import shutil

    from paddle_electra.training import pretraining

    args = ["--corpus", corpus, "--init", ltp_converted, "--steps", "3", "--save-every", "1", "--no-fast-cpu"]
    _run(args + ["--output", str(tmp_path / "fp32")])
    monkeypatch.setattr(pretraining, "gpu_visible", lambda: True)
    scaled = []
    step = pretraining.MixedPrecision.step
    monkeypatch.setattr(
        pretraining.MixedPrecision,
        "step",
        lambda self, loss, opt: (scaled.append(self.scaler is not None), step(self, loss, opt)),
    )
    out = tmp_path / "fp16"
    _run(args + ["--output", str(out), "--fp16"])
    assert scaled == [True] * 3
    fp32, fp16 = ([entry["loss"] for entry in _log(tmp_path / name)] for name in ("fp32", "fp16"))
    np.testing.assert_allclose(fp16, fp32, rtol=1e-6)
    saved = json.loads((out / "checkpoint-2" / "state.json").read_text())["loss_scaler"]
    for name in ("checkpoint-3", "generator", "discriminator"):
        shutil.rmtree(out / name)
    loaded = []
    load = paddle.amp.GradScaler.load_state_dict
    monkeypatch.setattr(
        paddle.amp.GradScaler,
        "load_state_dict",
        lambda self, state: (loaded.append(state), load(self, state)),
    )
    _run(args + ["--output", str(out), "--fp16"])
    assert loaded == [saved] and _log(out)[-1]["loss"] == pytest.approx(fp16[-1], abs=1e-6)
