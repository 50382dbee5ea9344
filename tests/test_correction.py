"""Chinese spelling correction: metric definitions on hand-made cases, the confusion data of
pycorrector 0.5.0 (shipped in the package; the SIGHAN-15 pairs are fetched, skipped offline unless
CI is set), the token/character alignment, and the corrector on the shared fixture's two towers.
Character positions must stay right around digits, Latin letters, full-width forms, spaces and
sub-words."""

import math
import os

import pytest

from paddle_electra import ElectraTokenizer
from paddle_electra.models.tokenizer import TokenAligner, save_tokenizer
from paddle_electra.pipelines import FillMask, ReplacedTokenDetection
from paddle_electra.pipelines.correction import (
    ConfusionDataError,
    ConfusionSet,
    SpellingCorrector,
    gold_edits,
    pycorrector_sentence_metrics,
    read_sighan15,
    sentence_metrics,
    sighan15_test_file,
)

# Every CJK character here is in the shared fixture's 588-token vocabulary.
SMALL_CONFUSION = {"在": "再", "的": "地得", "是": "时事", "有": "由", "工": "公红", "作": "做", "我": "们"}
MIXED = [
    "我在ABC公司 2023年　ＡＢ１２工作。",
    "Hello World 的 是 HeLLo 在 x86 有 1 个工作",
    "  前有  空格，后也有　　 ",
    "ｅｌｅｃｔｒａ是Ｅｌｅｃｔｒａ的 ELECTRA 在 2020 年",
    "我的[MASK]是在，有？工作！",
    "看不出来：ABC 123 xyz",
    "",
]


# ---------------------------------------------------------------- metrics


def test_gold_edits():
    assert gold_edits("我跟我朋唷打算", "我跟我朋友打算") == [(4, "唷", "友")]
    assert gold_edits("没有错", "没有错") == []
    with pytest.raises(ValueError, match="length"):
        gold_edits("一二三", "一二")


def test_sentence_metrics_on_hand_made_cases():
    gold = [
        [(1, "在", "再")],  # 1 right detection, right correction
        [(2, "的", "地")],  # 2 right detection, wrong correction
        [(0, "是", "事")],  # 3 missed (no edit)
        [],  # 4 false alarm
        [],  # 5 correctly left alone
        [(1, "有", "由"), (4, "工", "公")],  # 6 only half of the errors found
    ]
    pred = [
        [(1, "在", "再")],
        [(2, "的", "得")],
        [],
        [(3, "我", "们")],
        [],
        [(1, "有", "由")],
    ]
    m = sentence_metrics(pred, gold)
    assert (m["sentences"], m["gold_positive"], m["predicted_positive"]) == (6, 4, 4)
    assert m["detection"]["tp"] == 2 and m["correction"]["tp"] == 1
    assert m["detection"]["precision"] == m["detection"]["recall"] == m["detection"]["f1"] == 0.5
    assert m["correction"]["precision"] == m["correction"]["recall"] == m["correction"]["f1"] == 0.25
    assert m["detection"]["accuracy"] == 3 / 6 and m["correction"]["accuracy"] == 2 / 6  # 5 counts as right
    assert m["fpr"] == 0.5  # sentence 4 of the two without errors


def test_sentence_metrics_edge_cases():
    nothing = sentence_metrics([[], []], [[], []])
    assert nothing["detection"]["precision"] == nothing["detection"]["f1"] == 0.0
    assert nothing["detection"]["accuracy"] == 1.0 and nothing["fpr"] == 0.0
    # edit order does not matter: the sets are compared
    m = sentence_metrics([[(4, "工", "公"), (1, "有", "由")]], [[(1, "有", "由"), (4, "工", "公")]])
    assert m["correction"]["f1"] == 1.0
    with pytest.raises(ValueError):
        sentence_metrics([[]], [[], []])


def test_pycorrector_style_metrics():
    # pycorrector counts a positive sentence corrected wrongly as FN, never as FP
    sources, targets = ["我在家", "我再家", "他是人"], ["我在家", "我在家", "他是人"]
    m = pycorrector_sentence_metrics(sources, ["我在家", "我载家", "他时人"], targets)
    assert (m["precision"], m["recall"], m["accuracy"]) == (0.0, 0.0, 1 / 3)
    m = pycorrector_sentence_metrics(sources, ["我在家", "我在家", "他时人"], targets)
    assert (m["precision"], m["recall"]) == (0.5, 1.0)


# ---------------------------------------------------------------- confusion sets


def test_confusion_set_from_a_dict():
    cs = ConfusionSet({"在": "再载在", "ab": "x", "x": "在", "的": ["地", "de", "2"]}, source="test")
    assert cs["在"] == {"再", "载"}  # itself, multi-character and non-CJK entries dropped
    assert "ab" not in cs and "x" not in cs and cs["的"] == {"地"}
    assert cs.candidates("我") == frozenset()
    sym = ConfusionSet({"在": "再"}, symmetric=True)
    assert sym["再"] == {"在"} and sym["在"] == {"再"}
    restricted = cs.restricted_to("在再的")
    assert restricted["在"] == {"再"} and "的" not in restricted  # no candidate of 的 left
    merged = cs | ConfusionSet({"在": "仔"}, source="more")
    assert merged["在"] == {"再", "载", "仔"} and merged.source == "test + more"


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """An empty cache, and any socket or subprocess (pip) fails."""
    import socket
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError("no network and no subprocess here")

    monkeypatch.setenv("PADDLE_ELECTRA_CACHE", str(tmp_path))
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_pycorrector_confusion_data_is_shipped(no_network, tmp_path):
    from paddle_electra.pipelines.correction import CONFUSION_DIR

    cs = ConfusionSet.from_pycorrector()
    assert os.listdir(tmp_path) == []  # nothing fetched or cached
    with open(os.path.join(CONFUSION_DIR, "LICENSE"), encoding="utf-8") as f:
        licence = f.read()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    with open(os.path.join(CONFUSION_DIR, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "pycorrector" in readme and "XuMing" in readme and "Apache License 2.0" in readme
    assert "Apache-2.0" in cs.source and len(cs) > 3000
    assert "Apache-2.0" in cs.source and len(cs) > 3000
    assert {"再", "载"} <= cs["在"]  # same_pinyin.txt: 在 -> 载仔灾栽再宰
    assert "辽" in cs["了"]  # a two-column line of same_pinyin.txt (pycorrector's own loader drops these)
    assert {"未", "味"} <= cs["末"] and "墨" in cs[
        "黑"
    ]  # same_stroke.txt lines: 末 未 味 抹 / 黑 墨 默 黩 黯 黔
    one_way = ConfusionSet.from_pycorrector(symmetric=False)
    assert "应" in one_way["因"] and "因" not in one_way["应"] and "因" in cs["应"]
    pinyin_only = ConfusionSet.from_pycorrector(kinds=("pinyin",))
    assert "未" not in pinyin_only.candidates("末") and "墨" not in pinyin_only.candidates("黑")


def test_the_package_ships_the_confusion_data(monkeypatch):
    import glob
    import runpy

    import setuptools

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    arguments = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: arguments.update(kwargs))
    monkeypatch.chdir(root)
    runpy.run_path("setup.py")
    package = os.path.join(root, "paddle_electra", "pipelines")
    shipped = {
        os.path.relpath(p, package)
        for pattern in arguments["package_data"]["paddle_electra.pipelines"]
        for p in glob.glob(os.path.join(package, pattern))
    }
    assert {
        f"data/pycorrector/{name}" for name in ("same_pinyin.txt", "same_stroke.txt", "LICENSE", "README.md")
    } <= shipped


@pytest.fixture(scope="module")
def sighan15_file():
    try:
        return sighan15_test_file()
    except ConfusionDataError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))


def test_sighan15_pairs(sighan15_file):
    pairs = read_sighan15(sighan15_file)
    assert len(pairs) == 1100
    assert all(len(s) == len(t) for s, t in pairs)
    assert sum(s != t for s, t in pairs) == 543
    assert ("下个星期，我跟我朋唷打算去法国玩儿。", "下个星期，我跟我朋友打算去法国玩儿。") in pairs


def test_confusion_set_from_pypinyin():
    pytest.importorskip("pypinyin")
    cs = ConfusionSet.from_pypinyin("在再载是时事他她它")
    assert {"再", "载"} <= cs["在"] and {"她", "它"} <= cs["他"] and "在" not in cs["是"]


# ---------------------------------------------------------------- alignment


def test_aligner_equals_the_tokenizer_with_sub_words(tmp_path):
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "我",
        "在",
        "的",
        "工",
        "作",
        "hello",
        "he",
        "##llo",
        "20",
        "##23",
        "x",
        "##86",
        "，",
        "。",
        "ａ",
        "##ｂ",
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    text = "我在Hello 2023年 x86，HELLO的ＡＢ　工作 Café。[MASK]"
    built = ElectraTokenizer(str(tmp_path / "vocab.txt"))  # built directly, it splits a written [MASK]
    assert TokenAligner(built)(text)[0] == built(text)["input_ids"][1:-1]
    save_tokenizer(str(tmp_path / "vocab.txt"), str(tmp_path / "tok"))
    tokenizer = ElectraTokenizer.from_pretrained(str(tmp_path / "tok"))  # loaded, it keeps [MASK] whole
    ids, spans = TokenAligner(tokenizer)(text)
    assert ids == tokenizer(text)["input_ids"][1:-1]
    pieces = [(token, text[a:b]) for token, (a, b) in zip(tokenizer.convert_ids_to_tokens(ids), spans)]
    assert pieces == [
        ("我", "我"),
        ("在", "在"),
        ("hello", "Hello"),
        ("20", "20"),
        ("##23", "23"),
        ("[UNK]", "年"),
        ("x", "x"),
        ("##86", "86"),
        ("，", "，"),
        ("hello", "HELLO"),
        ("的", "的"),
        ("ａ", "Ａ"),
        ("##ｂ", "Ｂ"),
        ("工", "工"),
        ("作", "作"),
        ("[UNK]", "Café"),
        ("。", "。"),
        ("[MASK]", "[MASK]"),
    ]


def test_aligner_on_the_fixture_vocab(converted_shared):
    tokenizer = ElectraTokenizer.from_pretrained(os.path.join(converted_shared, "discriminator"))
    align = TokenAligner(tokenizer)
    odd = "e\u0301t\u00e9 İstanbul 的\x00一\x1c是 a\x00b ΣΑΣ 在\u2028了\ufffd ß ①"
    for text in MIXED + [odd]:
        ids, spans = align(text)
        assert ids == tokenizer(text)["input_ids"][1:-1], text
        for token, (a, b) in zip(tokenizer.convert_ids_to_tokens(ids), spans):
            assert 0 <= a < b <= len(text)
            if b - a == 1 and token not in tokenizer.all_special_tokens:
                assert token == text[a].lower()


# ---------------------------------------------------------------- the corrector


@pytest.fixture(scope="module")
def corrector(converted_shared):
    return SpellingCorrector.from_pretrained(
        os.path.join(converted_shared, "generator"),
        os.path.join(converted_shared, "discriminator"),
        confusion=ConfusionSet(SMALL_CONFUSION),
        threshold=0.0,
    )


def _check_edits(text, result, confusion):
    out = result["text"]
    assert len(out) == len(text)
    edited = {position for position, _, _ in result["edits"]}
    for position, wrong, right in result["edits"]:
        assert wrong == text[position] and right == out[position] and right in confusion[wrong]
    assert all(a == b for i, (a, b) in enumerate(zip(text, out)) if i not in edited)


@pytest.mark.parametrize("mask_mode", ["each", "all"])
def test_positions_stay_right(corrector, mask_mode):
    corrector.mask_mode, corrector.margin = mask_mode, -math.inf  # every reconsidered character is replaced
    try:
        results = corrector(MIXED, batch_size=3)
    finally:
        corrector.mask_mode, corrector.margin = "each", 1.0
    for text, result in zip(MIXED, results):
        _check_edits(text, result, SMALL_CONFUSION)
        expected = {i for i, c in enumerate(text) if c in SMALL_CONFUSION}
        assert {p for p, _, _ in result["edits"]} == expected, text
    assert results[0]["text"][2:5] == "ABC" and results[0]["text"][5:18] == "公司 2023年　ＡＢ１２"
    assert results[1]["text"].startswith("Hello World ") and "HeLLo" in results[1]["text"]
    assert results[2]["text"][:2] == "  " and results[2]["text"].endswith("　　 ")
    assert (
        "[MASK]" in results[4]["text"]
        and results[5]["text"] == MIXED[5]
        and results[6] == {"text": "", "edits": []}
    )


def test_nothing_changes_above_the_margin_or_threshold(corrector):
    corrector.margin = math.inf
    try:
        results = corrector(MIXED)
    finally:
        corrector.margin = 1.0
    assert [r["text"] for r in results] == MIXED and not any(r["edits"] for r in results)
    corrector.threshold = 1.01
    try:
        detailed = corrector(MIXED[0], details=True)
    finally:
        corrector.threshold = 0.0
    assert detailed["edits"] == [] and detailed["suspects"] == []  # one string in -> one result


def test_scores_are_the_two_towers_outputs(corrector, converted_shared):
    text = "的一是在不了有和人"
    result = corrector([text], details=True)[0]
    _check_edits(text, result, SMALL_CONFUSION)
    rtd = ReplacedTokenDetection.from_pretrained(os.path.join(converted_shared, "discriminator"))([text])[0]
    suspects = {p: prob for p, _, prob in result["suspects"]}
    assert set(suspects) == {0, 2, 3, 6}  # the characters with confusion candidates
    for position, prob in suspects.items():
        assert abs(prob - rtd["probs"][position + 1]) < 1e-6
    (detected,) = corrector.detect([text])  # every editable character, whatever its probability
    assert [(p, c) for p, c, _ in detected] == list(enumerate(text))
    assert all(abs(prob - rtd["probs"][p + 1]) < 1e-6 for p, _, prob in detected)
    fill = FillMask.from_pretrained(os.path.join(converted_shared, "generator"))
    (candidates,) = fill([text[:3] + "[MASK]" + text[4:]], top_k=fill.tokenizer.vocab_size)[0]
    probs = dict(candidates)
    for char, logp in result["scores"][3].items():  # 在 and its candidate 再
        assert abs(logp - math.log(probs[char])) < 1e-4
    for position, scores in result["scores"].items():
        best = max((c for c in scores if c != text[position]), key=scores.get)
        replaced = scores[best] - scores[text[position]] > corrector.margin
        assert ((position, text[position], best) in result["edits"]) == replaced


def test_batch_size_does_not_change_results(corrector):
    texts = MIXED + ["的一是在不了有和人", "我在工作"]
    one = corrector(texts, batch_size=1, details=True)
    many = corrector(texts, batch_size=4, details=True)
    for a, b in zip(one, many):
        assert a["scores"].keys() == b["scores"].keys()
        for position in a["scores"]:
            assert all(
                abs(a["scores"][position][c] - b["scores"][position][c]) < 1e-4 for c in a["scores"][position]
            )


def test_long_texts_are_corrected_within_max_length(converted_shared):
    corrector = SpellingCorrector.from_pretrained(
        os.path.join(converted_shared, "generator"),
        os.path.join(converted_shared, "discriminator"),
        confusion=ConfusionSet(SMALL_CONFUSION),
        threshold=0.0,
        margin=-math.inf,
        max_length=10,
    )
    text = "在在在在在在在在在在在在"  # 12 characters, 8 fit beside [CLS] and [SEP]
    result = corrector(text)
    assert result["text"] == "再" * 8 + "在" * 4 and [p for p, _, _ in result["edits"]] == list(range(8))
