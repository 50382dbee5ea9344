"""PaddleHub's own export APIs on our modules: `save_inference_model` and `export_onnx_model` write
the module's model with an attention mask input, under PaddleHub's file names, and the saved graph
run by Paddle Inference / onnxruntime on a padded batch of texts of different lengths gives the
module's own results for each text. A tiny converted model (conftest.converted_shared); no network."""

import os

import numpy as np
import onnxruntime
import paddle
import paddle.inference
import paddlehub
import pytest
from paddlehub.module.nlp_module import TransformerModule

from paddle_electra.hub import pack
from paddle_electra.runtime.export import InferenceError
from paddle_electra.utils.cache import OutputError
from paddle_electra.utils.numeric import softmax

NAME = "export-test"
LABELS = {0: "负面", 1: "正面", 2: "中性"}
TAGS = {0: "B-PER", 1: "I-PER", 2: "O"}
# three texts of clearly different lengths: 33, 4 and 9 tokens with [CLS] and [SEP]
TEXTS = [["今天天气很好，我们去公园吧，有一个大的国家和十三个人在这里工作"], ["不错"], ["他是一个中国人"]]
PAIRS = [["他是一个人", "我们都是中国人，有一个大的国家和十三个人在这里工作"], ["上海", "不错"]]
# reading comprehension: every context longer than the beam (20), so the top starts and ends are context
# tokens with or without padding
QUESTIONS = [
    [
        "谁在公园",
        "今天天气很好，我们去公园吧，有一个大的国家和十三个人在这里工作，他是一个人，我们都是中国人",
    ],
    ["天气怎么样", "今天天气很好，我们去公园吧，有一个大的国家"],
]
INPUTS = ["input_ids", "token_type_ids", "attention_mask"]


@pytest.fixture(scope="module")
def module_dir(converted_shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-module") / "module"
    return pack(os.path.join(converted_shared, "discriminator"), name=NAME, out=str(out))


def build(module_dir, task, labels=LABELS):
    """The module for `task`; its predict runs the Layer itself (dygraph), not an export of its own."""
    return paddlehub.Module(directory=module_dir, task=task, label_map=labels, runtime={"backend": "dygraph"})


def padded(module, data, prefix=""):
    """A padded batch (pad id 0, mask 0, token type 0) of `data`'s encodings, and each item's length."""
    encoded = [module.get_tokenizer()(*item) for item in data]
    lengths = [len(e["input_ids"]) for e in encoded]
    arrays = {prefix + key: np.zeros((len(data), max(lengths)), "int64") for key in INPUTS}
    for i, (e, n) in enumerate(zip(encoded, lengths)):
        arrays[prefix + "input_ids"][i, :n] = e["input_ids"]
        arrays[prefix + "token_type_ids"][i, :n] = e["token_type_ids"]
        arrays[prefix + "attention_mask"][i, :n] = 1
    return arrays, lengths


def run_paddle_inference(dirname, arrays):
    """(input names, outputs) of <dirname>/<NAME>.json + .pdiparams under Paddle Inference."""
    config = paddle.inference.Config(
        os.path.join(dirname, NAME + ".json"), os.path.join(dirname, NAME + ".pdiparams")
    )
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    names = predictor.get_input_names()
    for name in names:
        predictor.get_input_handle(name).copy_from_cpu(arrays[name])
    predictor.run()
    return names, [predictor.get_output_handle(o).copy_to_cpu() for o in predictor.get_output_names()]


def run_onnxruntime(dirname, arrays):
    """(input names, outputs) of <dirname>/<NAME>.onnx under onnxruntime."""
    session = onnxruntime.InferenceSession(
        os.path.join(dirname, NAME + ".onnx"), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    return names, session.run(None, {name: arrays[name] for name in names})


def exported(module, dirname, arrays):
    """Both exports of `module` into `dirname`, run on `arrays`: {engine: outputs}, after checking
    the files written and each graph's inputs (the attention mask among them)."""
    written = module.save_inference_model(str(dirname))
    assert sorted(os.path.basename(p) for p in written) == [NAME + ".json", NAME + ".pdiparams"]
    written = module.export_onnx_model(str(dirname))
    assert [os.path.basename(p) for p in written] == [NAME + ".onnx"]
    assert sorted(os.listdir(dirname)) == [NAME + ".json", NAME + ".onnx", NAME + ".pdiparams"]
    results = {}
    for engine, run in (("paddle-inference", run_paddle_inference), ("onnxruntime", run_onnxruntime)):
        names, results[engine] = run(str(dirname), arrays)
        assert names == [spec.name for spec in module.input_spec], engine
    return results


def test_seq_cls_export_gives_predict_probabilities_on_a_padded_batch(module_dir, tmp_path, monkeypatch):
    module = build(module_dir, "seq-cls")
    assert [spec.name for spec in module.input_spec] == INPUTS
    assert len(TransformerModule.input_spec.fget(module)) == 2  # PaddleHub's spec: no mask
    arrays, lengths = padded(module, TEXTS)
    assert lengths == [33, 4, 9]
    _, probs = module.predict(TEXTS, return_prob=True)
    saves = []
    jit_save = paddle.jit.save
    monkeypatch.setattr(paddle.jit, "save", lambda *a, **k: saves.append(a[1]) or jit_save(*a, **k))
    for engine, (logits,) in exported(module, tmp_path / "out", arrays).items():
        assert np.abs(softmax(logits) - np.array(probs)).max() < 1e-4, engine
    assert len(saves) == 2  # one paddle.jit.save per method


def test_export_writes_the_current_weights(module_dir, tmp_path):
    """After fine-tuning (a hub.Trainer step) the export holds the new weights."""
    module = build(module_dir, "seq-cls")
    arrays, _ = padded(module, TEXTS)
    module.save_inference_model(str(tmp_path / "before"))
    (before,) = run_paddle_inference(str(tmp_path / "before"), arrays)[1]
    module.train()
    optimizer = paddle.optimizer.SGD(learning_rate=1.0, parameters=module.parameters())
    batch = [paddle.to_tensor(arrays[k]) for k in INPUTS[:2]] + [paddle.to_tensor([[0], [1], [2]])]
    module.training_step(batch, 0)["loss"].backward()
    optimizer.step()
    module.eval()
    _, probs = module.predict(TEXTS, return_prob=True)
    module.save_inference_model(str(tmp_path / "after"))
    (after,) = run_paddle_inference(str(tmp_path / "after"), arrays)[1]
    assert np.abs(after - before).max() > 1e-3
    assert np.abs(softmax(after) - np.array(probs)).max() < 1e-4


def test_token_cls_export_gives_predict_probabilities_on_a_padded_batch(module_dir, tmp_path):
    module = build(module_dir, "token-cls", TAGS)
    arrays, lengths = padded(module, TEXTS)
    _, probs = module.predict(TEXTS, return_prob=True)  # one row per character: tokens 1..n-2
    for engine, (logits,) in exported(module, tmp_path / "out", arrays).items():
        for i, n in enumerate(lengths):
            assert len(probs[i]) == n - 2
            assert np.abs(softmax(logits[i, 1 : n - 1]) - np.array(probs[i])).max() < 1e-4, engine


def test_embedding_export_gives_get_embedding_states_on_a_padded_batch(module_dir, tmp_path):
    module = build(module_dir, None, None)
    arrays, lengths = padded(module, TEXTS)
    embeddings = module.get_embedding(TEXTS)
    for engine, (hidden,) in exported(module, tmp_path / "out", arrays).items():
        for i, n in enumerate(lengths):
            assert np.abs(hidden[i, :n] - np.array(embeddings[i][1])).max() < 1e-4, engine

    # the mask is an input the graph uses: padding seen as tokens changes the shorter texts' states
    unmasked = dict(arrays, attention_mask=np.ones_like(arrays["attention_mask"]))
    (wrong,) = run_paddle_inference(str(tmp_path / "out"), unmasked)[1]
    for i, n in enumerate(lengths):
        if n < max(lengths):
            assert np.abs(wrong[i, :n] - np.array(embeddings[i][1])).max() > 1e-2


def test_reading_comprehension_export_gives_each_items_own_beam_on_a_padded_batch(module_dir, tmp_path):
    paddle.seed(0)  # the new head's weights: top-k indices compared exactly, so no run-to-run near-ties
    module = build(module_dir, "reading-comprehension", None)
    arrays, lengths = padded(module, QUESTIONS)
    assert min(lengths) < max(lengths) - 10
    alone = []  # the model on each item by itself, no padding
    for i, n in enumerate(lengths):
        tensors = [paddle.to_tensor(arrays[key][i : i + 1, :n]) for key in INPUTS]
        with paddle.no_grad():
            alone.append([t.numpy()[0] for t in module.model(*tensors)])
    for engine, outputs in exported(module, tmp_path / "out", arrays).items():
        assert len(outputs) == 5, engine  # start log probs / index, end log probs / index, no-answer
        for i in range(len(lengths)):
            for got, want in zip(outputs, alone[i]):
                assert np.abs(got[i] - want).max() < 1e-4, engine


def test_text_matching_export_gives_predict_probabilities_on_a_padded_batch(module_dir, tmp_path):
    module = build(module_dir, "text-matching", {0: "不相似", 1: "相似"})
    query, _ = padded(module, [[q] for q, _ in PAIRS], "query_")
    title, _ = padded(module, [[t] for _, t in PAIRS], "title_")
    names = [spec.name for spec in module.input_spec]
    assert "query_attention_mask" in names and "title_attention_mask" in names
    _, probs = module.predict(PAIRS, return_prob=True)
    for engine, (logits,) in exported(module, tmp_path / "out", {**query, **title}).items():
        assert np.abs(softmax(logits) - np.array(probs)).max() < 1e-4, engine


def test_onnx_opset_and_directories(module_dir, tmp_path):
    module = build(module_dir, "seq-cls")
    out = tmp_path / "out"
    out.mkdir()
    (out / "deploy.sh").write_text("keep me")
    module.export_onnx_model(str(out), opset_version=13, enable_onnx_checker=True)  # the latter: ignored
    assert sorted(os.listdir(out)) == ["deploy.sh", NAME + ".onnx"]  # no work folder left behind
    import onnx

    assert onnx.load(str(out / (NAME + ".onnx"))).opset_import[0].version >= 13
    arrays, _ = padded(module, TEXTS)
    _, probs = module.predict(TEXTS, return_prob=True)
    (logits,) = run_onnxruntime(str(out), arrays)[1]
    assert np.abs(softmax(logits) - np.array(probs)).max() < 1e-4

    # paddle2onnx would abort the process on an opset it does not know
    with pytest.raises(InferenceError, match="opset_version must be an integer from 7 to 21"):
        module.export_onnx_model(str(out), opset_version=99)
    with pytest.raises(OutputError, match="exists and is not a directory") as error:
        module.save_inference_model(str(out / "deploy.sh"))
    assert "\n" not in str(error.value)
