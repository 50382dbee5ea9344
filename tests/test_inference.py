"""The fast prediction path: exports (Paddle Inference and ONNX) equal dygraph within 1e-4, the
export cache follows the weights, and predictions do not depend on batch size, input order or
which backend "auto" picks for a batch."""

import json
import os
import random
import time

import numpy as np
import paddle
import pytest
from conftest import TF_TINY, to_tensors

from paddle_electra import (
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTextMatching,
)
from paddle_electra.cli import main
from paddle_electra.runtime import predictor as inference
from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.export import InferenceError, export, load_model
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.training.finetune import predict
from paddle_electra_convert import convert_tf_checkpoint

REF = np.load(os.path.join(TF_TINY, "reference.npz"))
FEED = {
    "input_ids": REF["input_ids"],
    "token_type_ids": REF["token_type_ids"],
    "attention_mask": REF["attention_mask"],
}
PAIR_FEED = {f"{side}_{key}": value for side in ("query", "title") for key, value in FEED.items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(root / "tiny"), progress=False)
    disc = str(root / "tiny" / "discriminator")
    paddle.seed(0)
    heads = {
        "cls": (ElectraForSequenceClassification, {"num_labels": 3}),
        "qa": (ElectraForQuestionAnswering, {"beam_size": 4}),
        "matching": (ElectraForTextMatching, {"num_labels": 2}),
    }
    for name, (cls, options) in heads.items():
        model = cls.from_pretrained(disc, new_head=True, **options)
        model.save_pretrained(str(root / name), safe_serialization=True)
        for f in ("vocab.txt", "tokenizer_config.json"):
            os.link(os.path.join(disc, f), root / name / f)
    return {
        "discriminator": disc,
        "generator": str(root / "tiny" / "generator"),
        **{name: str(root / name) for name in heads},
    }


def _dygraph(model, feed):
    model.eval()
    with paddle.no_grad():
        out = model(**{k: v for k, v in zip(feed, to_tensors(*feed.values()))})
    return [o.numpy() for o in out] if isinstance(out, (tuple, list)) else [out.numpy()]


def _assert_close(static, dygraph, name):
    assert len(static) == len(dygraph)
    if name == "qa":  # beam entries at impossible positions (pushed down by -1000) underflow differently
        for lp, idx in ((0, 1), (2, 3)):  # (log probs, indices) of starts and ends
            valid = dygraph[lp] > -50
            np.testing.assert_allclose(static[lp][valid], dygraph[lp][valid], atol=1e-4)
            np.testing.assert_array_equal(static[idx][valid], dygraph[idx][valid])
        static, dygraph = static[4:], dygraph[4:]  # the no-answer logits compare whole
    real = FEED["attention_mask"].astype(bool)
    for s, d in zip(static, dygraph):
        if s.dtype.kind == "f" and s.shape[:2] == real.shape:
            np.testing.assert_allclose(s[real], d[real], atol=1e-4)  # padded positions are free
        else:
            np.testing.assert_allclose(s, d, atol=1e-4)


@pytest.mark.parametrize("name", ["discriminator", "generator", "cls", "qa", "matching"])
def test_exported_model_equals_dygraph_on_both_backends(models, name, tmp_path):
    out = tmp_path / "static"
    assert main(["export", models[name], "--out", str(out)]) == 0
    assert {"inference.json", "inference.pdiparams", "inference.onnx", "config.json", "vocab.txt"} <= set(
        os.listdir(out)
    )
    feed = PAIR_FEED if name == "matching" else FEED
    dygraph = _dygraph(load_model(models[name]), feed)
    for backend in ("paddle-inference", "onnxruntime"):
        _assert_close(Predictor(str(out), backend=backend, threads=2)(**feed), dygraph, name)


def test_reduced_precision_stays_close(models):
    dygraph = _dygraph(load_model(models["discriminator"]), FEED)[0]
    real = FEED["attention_mask"].astype(bool)
    precisions = ["int8"] + (["bf16"] if paddle.base.core.supports_bfloat16() else [])
    for precision in precisions:
        predictor = Predictor(models["discriminator"], precision=precision)
        assert predictor.backend_for(1, 8) == {"int8": "onnxruntime", "bf16": "paddle-inference"}[precision]
        logits = predictor(**FEED)[0]
        error = np.abs(logits - dygraph)[real].max()
        assert 0 < error < 0.25, (precision, error)  # changed (really quantized), yet close


def test_the_export_cache_follows_the_weights(models):
    model = load_model(models["cls"])
    first = Predictor(model)
    assert Predictor(load_model(models["cls"])).directory == first.directory  # same weights: exported once
    paddle.seed(0)  # the in-memory model before it was saved (as the fixture made it) has the same export too
    in_memory = ElectraForSequenceClassification.from_pretrained(
        models["discriminator"], num_labels=3, new_head=True
    )
    assert Predictor(in_memory).directory == first.directory
    before = first(**FEED)[0]
    with paddle.no_grad():
        model.classifier.weight.set_value(model.classifier.weight * 2)
    second = Predictor(model)
    assert second.directory != first.directory
    np.testing.assert_allclose(second(**FEED)[0], _dygraph(model, FEED)[0], atol=1e-4)
    assert np.abs(second(**FEED)[0] - before).max() > 1e-3


def test_forced_backends_are_not_timed(models):
    assert (
        Predictor(models["discriminator"], device="cpu", backend="paddle-inference").backend_for(1, 1)
        == "paddle-inference"
    )
    assert (
        Predictor(models["discriminator"], device="cpu", backend="onnxruntime").backend_for(64, 512)
        == "onnxruntime"
    )


def test_predictions_do_not_depend_on_batch_size_order_or_backend(ltp_converted, chnsenticorp_dir, tmp_path):
    """predict on real ChnSentiCorp reviews: batch sizes 1 and 7, shuffled input, every backend."""
    paddle.seed(0)
    model = ElectraForSequenceClassification.from_pretrained(
        ltp_converted, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1}, new_head=True
    )
    model.config.task = "chnsenticorp"
    model_dir = str(tmp_path / "cls")
    model.save_pretrained(model_dir, safe_serialization=True)
    for f in ("vocab.txt", "tokenizer_config.json"):
        os.link(os.path.join(ltp_converted, f), os.path.join(model_dir, f))
    with open(os.path.join(chnsenticorp_dir, "dev.tsv"), encoding="utf-8") as f:
        rows = f.read().splitlines()[:60]
    data_file = tmp_path / "dev.tsv"
    data_file.write_text("\n".join(rows) + "\n", encoding="utf-8")

    def labels_and_probabilities(batch_size):
        records = predict("chnsenticorp", model_dir, str(data_file), batch_size=batch_size)
        return [r["label"] for r in records], np.array([r["probability"] for r in records])

    labels, probs = labels_and_probabilities(7)
    one_by_one = labels_and_probabilities(1)
    assert one_by_one[0] == labels
    np.testing.assert_allclose(one_by_one[1], probs, atol=1e-5)
    shuffled = [rows[0]] + random.Random(0).sample(rows[1:], len(rows) - 1)
    data_file.write_text("\n".join(shuffled) + "\n", encoding="utf-8")
    order = [rows[1:].index(row) for row in shuffled[1:]]
    again = labels_and_probabilities(7)
    assert again[0] == [labels[i] for i in order]
    np.testing.assert_allclose(again[1], probs[order], atol=1e-5)

    # the logits themselves, whichever backend runs a batch
    from paddle_electra.models.tokenizer import ElectraTokenizer

    tokenizer = ElectraTokenizer.from_pretrained(model_dir)
    items = [dict(tokenizer(row.split("\t", 1)[1], max_length=128, truncation=True)) for row in rows[1:]]
    auto = Predictor(model_dir)
    for b in (1, 7):  # each engine runs some batches, whatever auto timed above on this CPU
        auto._times.update(
            {auto._times_key(b, n): ("onnxruntime" if b == 1 else "paddle-inference") for n in range(1, 129)}
        )
    runs = [predict_items(auto, items, 1), predict_items(auto, items, 7)]
    runs += [
        predict_items(Predictor(model_dir, backend=b), items, 7)
        for b in ("dygraph", "paddle-inference", "onnxruntime")
    ]
    for run in runs[1:]:
        np.testing.assert_allclose(np.stack(run), np.stack(runs[0]), atol=1e-4)


def test_bad_requests_say_how(models, tmp_path, capsys):
    with pytest.raises(InferenceError, match="paddle-electra convert"):
        Predictor(str(tmp_path))
    with pytest.raises(InferenceError, match="choose one of"):
        Predictor(models["discriminator"], backend="tensorrt")
    with pytest.raises(InferenceError, match="runs on the onnxruntime backend"):
        Predictor(models["discriminator"], backend="paddle-inference", precision="int8")
    with pytest.raises(InferenceError, match="precision fp16 runs on a GPU"):
        Predictor(models["discriminator"], precision="fp16", device="cpu")
    exported = str(tmp_path / "exported-ok")
    export(models["discriminator"], exported, onnx=False)
    with pytest.raises(InferenceError, match="holds no dygraph model"):
        Predictor(exported, backend="dygraph")
    with pytest.raises(InferenceError, match="missing inputs"):
        Predictor(models["discriminator"])(input_ids=FEED["input_ids"])
    out = tmp_path / "exported"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["export", models["discriminator"], "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not empty" in err and len(err.splitlines()) == 1
    assert os.listdir(out) == ["keep.txt"] and not [
        p for p in os.listdir(tmp_path) if p.startswith(".export-")
    ]


def test_bf16_without_bf16_instructions_runs_fp32_with_a_notice(models, monkeypatch, caplog):
    monkeypatch.setattr(inference, "_cpu_has_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="paddle_electra.runtime.predictor"):
        predictor = Predictor(
            models["discriminator"], precision="bf16", device="cpu", backend="paddle-inference"
        )
    notices = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert len(notices) == 1 and "using fp32" in notices[0] and "\n" not in notices[0]
    assert predictor.precision == "fp32" and not predictor.length_buckets
    fp32 = Predictor(models["discriminator"], device="cpu", backend="paddle-inference")
    np.testing.assert_array_equal(predictor(**FEED)[0], fp32(**FEED)[0])


@pytest.mark.parametrize("name", ["discriminator", "generator", "cls", "qa", "matching"])
def test_length_buckets_pad_and_cut_back_to_the_same_outputs(models, name):
    """bf16's length buckets (tested on fp32, which every CPU runs): the 12-token inputs run padded
    to 16 and give the unpadded outputs back, at the original length."""
    feed = PAIR_FEED if name == "matching" else FEED
    plain = Predictor(models[name], backend="paddle-inference", device="cpu")
    bucketed = Predictor(models[name], backend="paddle-inference", device="cpu")
    bucketed.length_buckets = True
    engine, seen = bucketed._backend("paddle-inference"), []

    class Recorder:
        input_names = engine.input_names

        def __call__(self, arrays):
            seen.append({a.shape[1] for a in arrays.values()})
            return engine(arrays)

    bucketed._backends["paddle-inference"] = Recorder()
    expected, got = plain(**feed), bucketed(**feed)
    assert seen == [{16}]
    assert [o.shape for o in got] == [o.shape for o in expected]
    _assert_close(got, expected, name)
    assert [inference.bucket_length(n) for n in (1, 16, 17, 500, 600)] == [16, 16, 32, 512, 600]


@pytest.mark.parametrize("name", ["qa", "cls"])
def test_auto_times_both_engines_once_per_size_class_and_export(models, name, tmp_path):
    exported = str(tmp_path / f"{name}-export")
    export(models[name], exported)
    auto = Predictor(exported)
    assert auto.backend_for(*FEED["input_ids"].shape) is None  # not timed yet
    first = auto(**FEED)
    choice = auto.backend_for(*FEED["input_ids"].shape)
    assert choice in ("onnxruntime", "paddle-inference")
    _assert_close(first, _dygraph(load_model(models[name]), FEED), name)
    again = Predictor(exported)  # another process would read the same file
    assert again.backend_for(*FEED["input_ids"].shape) == choice
    assert again.backend_for(64, 384) is None  # another size class
    assert (
        again.backend_for(len(FEED["input_ids"]), 384) is None
    )  # same batch, longer texts: another class too


@pytest.mark.parametrize("slow", ["onnxruntime", "paddle-inference"])
def test_auto_keeps_the_faster_engine(models, slow, tmp_path):
    exported = str(tmp_path / "export")
    export(models["discriminator"], exported)
    auto = Predictor(exported)
    engine = auto._backend(slow)

    class Slowed:  # the same engine, 0.2 s slower per call
        input_names = engine.input_names

        def __call__(self, arrays):
            time.sleep(0.2)
            return engine(arrays)

    auto._backends[slow] = Slowed()
    auto(**FEED)
    fast = ({"onnxruntime", "paddle-inference"} - {slow}).pop()
    assert auto.backend_for(*FEED["input_ids"].shape) == fast
    with open(os.path.join(exported, inference.BACKEND_TIMES), encoding="utf-8") as f:
        assert list(json.load(f).values()) == [fast]


def test_engine_timing_keeps_the_fastest_call():
    """A call slowed by other work (here: the first) does not decide; the fastest call does."""
    delays = iter([0.3])

    def engine(arrays):
        time.sleep(next(delays, 0.001))
        return []

    assert inference._seconds_per_call(engine, {}) < 0.1


@pytest.mark.parametrize("content", ['["onnxruntime"]', '{KEY: "rm -rf /"}', "{KEY: 3}"])
def test_a_foreign_backend_times_file_is_timed_again(models, content, tmp_path):
    """An export's backend_times.json that is not ours (not a mapping, or values that are no engine)
    is ignored: auto times the engines again instead of failing or running an unknown backend."""
    exported = str(tmp_path / "export")
    export(models["discriminator"], exported)
    key = json.dumps(Predictor(exported)._times_key(*FEED["input_ids"].shape))
    with open(os.path.join(exported, inference.BACKEND_TIMES), "w", encoding="utf-8") as f:
        f.write(content.replace("KEY", key))
    auto = Predictor(exported)
    assert auto.backend_for(*FEED["input_ids"].shape) is None
    _assert_close(auto(**FEED), _dygraph(load_model(models["discriminator"]), FEED), "discriminator")
    assert auto.backend_for(*FEED["input_ids"].shape) in ("onnxruntime", "paddle-inference")
