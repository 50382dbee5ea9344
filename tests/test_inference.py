"""Export with paddle.jit.to_static + Paddle Inference (oneDNN): outputs equal dygraph within 1e-4."""
import os

import numpy as np
import paddle
import pytest
from conftest import TF_TINY, to_tensors

from paddle_electra import ElectraForQuestionAnswering, ElectraForSequenceClassification
from paddle_electra.cli import main
from paddle_electra.inference import StaticPredictor, load_model
from paddle_electra_convert import convert_tf_checkpoint

REF = np.load(os.path.join(TF_TINY, "reference.npz"))
FEED = {"input_ids": REF["input_ids"], "token_type_ids": REF["token_type_ids"], "attention_mask": REF["attention_mask"]}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(root / "tiny"), progress=False)
    disc = str(root / "tiny" / "discriminator")
    paddle.seed(0)
    ElectraForSequenceClassification.from_pretrained(disc, num_labels=3).save_pretrained(str(root / "cls"), safe_serialization=True)
    ElectraForQuestionAnswering.from_pretrained(disc, beam_size=4).save_pretrained(str(root / "qa"), safe_serialization=True)
    for name in ("cls", "qa"):
        for f in ("vocab.txt", "tokenizer_config.json"):
            os.link(os.path.join(disc, f), root / name / f)
    return {"discriminator": disc, "generator": str(root / "tiny" / "generator"), "cls": str(root / "cls"), "qa": str(root / "qa")}


@pytest.mark.parametrize("name", ["discriminator", "generator", "cls", "qa"])
def test_exported_model_equals_dygraph(models, name, tmp_path):
    out = tmp_path / "static"
    assert main(["export", models[name], "--out", str(out)]) == 0
    predictor = StaticPredictor(str(out), threads=2)
    static = predictor(**FEED)
    model = load_model(models[name])
    model.eval()
    with paddle.no_grad():
        dygraph = model(*to_tensors(FEED["input_ids"], FEED["token_type_ids"], FEED["attention_mask"]))
    dygraph = [d.numpy() for d in dygraph] if isinstance(dygraph, (tuple, list)) else [dygraph.numpy()]
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
    assert sorted(os.listdir(out))[:2] == ["config.json", "inference.json"]


def test_predictor_without_export_says_how(tmp_path):
    with pytest.raises(ValueError, match="paddle-electra export"):
        StaticPredictor(str(tmp_path))
