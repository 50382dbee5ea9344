"""fill-mask and replaced-token detection equal the original code's outputs on the shared fixture
(pipeline_reference.json: the original TF code run on text), for any batch size."""

import json
import os

import pytest

from paddle_electra.pipelines import FillMask, ReplacedTokenDetection


@pytest.fixture(scope="module")
def reference(shared_tf_dir):
    with open(os.path.join(shared_tf_dir, "pipeline_reference.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_fill_mask_equals_the_original_code(converted_shared, reference, batch_size):
    fill = FillMask.from_pretrained(os.path.join(converted_shared, "generator"))
    cases = reference["fill_mask"]
    results = fill([c["text"] for c in cases], top_k=5, batch_size=batch_size)
    for case, per_mask in zip(cases, results):
        assert len(per_mask) == len(case["mask_positions"])
        for ours, theirs in zip(per_mask, case["top5"]):
            assert [token for token, _ in ours] == [token for token, _ in theirs]
            assert max(abs(p - q) for (_, p), (_, q) in zip(ours, theirs)) < 1e-6
            assert all(0.0 <= p <= 1.0 for _, p in ours)


def test_fill_mask_probabilities_sum_to_one(converted_shared):
    fill = FillMask.from_pretrained(os.path.join(converted_shared, "generator"))
    vocab = fill.tokenizer.vocab_size
    (candidates,) = fill(["的一是[MASK]不了有"], top_k=vocab)[0]
    assert len(candidates) == vocab and abs(sum(p for _, p in candidates) - 1.0) < 1e-4


@pytest.mark.parametrize("batch_size", [1, 3])
def test_replaced_token_detection_equals_the_original_code(converted_shared, reference, batch_size):
    rtd = ReplacedTokenDetection.from_pretrained(os.path.join(converted_shared, "discriminator"))
    cases = reference["rtd"]
    for case, result in zip(cases, rtd([c["text"] for c in cases], batch_size=batch_size)):
        assert result["tokens"] == case["tokens"]
        assert max(abs(p - q) for p, q in zip(result["probs"], case["probs"])) < 1e-6
        text = case["text"]  # character spans point back into the text; [CLS]/[SEP] have none
        assert result["spans"][0] is None and result["spans"][-1] is None
        assert [text[a:b] for a, b in result["spans"][1:-1]] == result["tokens"][1:-1]


def test_spans_stay_right_after_multi_character_unknown_words(converted_shared):
    """paddlenlp's offset_mapping loses the spans after a multi-character [UNK]; ours must not."""
    rtd = ReplacedTokenDetection.from_pretrained(os.path.join(converted_shared, "discriminator"))
    text = "Hello Café 的一 2001年 是ＡＢ在"
    (result,) = rtd([text])
    assert "[UNK]" in result["tokens"]
    for token, (start, end) in zip(result["tokens"][1:-1], result["spans"][1:-1]):
        piece = text[start:end]
        if token == "[UNK]":  # a whole unknown word, without the spaces around it
            assert piece and piece == piece.strip(), (token, piece)
        else:
            assert token.lstrip("#") == piece.lower(), (token, piece)
    assert [text[a:b] for (a, b), t in zip(result["spans"][1:-1], result["tokens"][1:-1]) if t == "的"] == [
        "的"
    ]


def test_commands(converted_shared, capsys):
    from paddle_electra.cli import main

    assert (
        main(["fill-mask", "--model", os.path.join(converted_shared, "generator"), "的一是[MASK]不了有"]) == 0
    )
    assert "[MASK] #1: 放 0.0023" in capsys.readouterr().out
    assert main(["fill-mask", "--model", os.path.join(converted_shared, "generator"), "没有掩码"]) == 2
    assert "no [MASK]" in capsys.readouterr().err
    assert (
        main(["rtd", "--model", os.path.join(converted_shared, "discriminator"), "的一是在不了有和人"]) == 0
    )
    assert "的 0.235" in capsys.readouterr().out
