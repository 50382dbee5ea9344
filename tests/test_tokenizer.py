"""Our tokenizer (paddlenlp's ElectraTokenizer, reused) gives the same ids as HF transformers'
BertTokenizer on the real 21128-token Chinese ELECTRA vocab, sentence by sentence; its Rust fast
path (`encode_batch`, HF `tokenizers`) gives the same ids as the Python tokenizer."""

import csv
import os
import unicodedata

import pytest
from transformers import BertTokenizer

import paddle_electra.models.tokenizer as tokenizer_module
from paddle_electra import ElectraTokenizer

MIXED = [
    "iPhone 15 Pro Max的价格是¥9999，比去年贵了10%！",
    "Ｗｉｆｉ信号很差，ＴＶ也不好用。。。Café naïve résumé",
    "ELECTRA：Pre-training Text Encoders as Discriminators Rather Than Generators (ICLR 2020)",
    "  多个   空格\t和\n换行  ",
    "표준어 한국어 문장도 섞여 있습니다",
]


def _chnsenticorp(directory):
    texts = []
    for split in ("train.tsv", "dev.tsv"):
        with open(os.path.join(directory, split), encoding="utf-8") as f:
            texts += [row["text_a"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return texts


@pytest.mark.parametrize("lower", [True, False])
def test_ids_equal_hf_bert_tokenizer_on_chnsenticorp(ltp_dir, chnsenticorp_dir, lower):
    vocab = os.path.join(ltp_dir, "vocab.txt")
    ours, theirs = ElectraTokenizer(vocab, do_lower_case=lower), BertTokenizer(vocab, do_lower_case=lower)
    texts = _chnsenticorp(chnsenticorp_dir) + MIXED
    assert len(texts) > 1200  # the sample's 1000 + 200 reviews
    mismatches = [t for t in texts if ours(t)["input_ids"] != theirs(t)["input_ids"]]
    assert mismatches == []


def test_pairs_and_special_tokens_equal_hf(ltp_dir):
    vocab = os.path.join(ltp_dir, "vocab.txt")
    ours, theirs = ElectraTokenizer(vocab), BertTokenizer(vocab)
    for a, b in zip(MIXED + ["abc[MASK]def"], MIXED[1:] + ["今天[MASK]气很好", "[MASK][MASK]x [UNK]"]):
        assert ours(a, b)["input_ids"] == theirs(a, b)["input_ids"]
        assert ours(a, b)["token_type_ids"] == theirs(a, b)["token_type_ids"]
    assert ours.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [
        0,
        100,
        101,
        102,
        103,
    ]


# Edge text for the fast path: accents and case, control and zero-width characters, emoji, special
# tokens inside words, a word over 100 characters ([UNK]), CJK Extension E, Korean, odd whitespace.
EDGE = MIXED + [
    "Café naïve RÉSUMÉ Ångström İstanbul ΣΑΣ ǅemal ﬁne",
    "a\x00b\x07c\u200bd\ufffde\x1ff\u00adg \u2028h\u3000i\u00a0j\x0bk\x85l",
    "😀👍🏻🫠 表情🤣好评～★▽ ❤️ #tag @人",
    "今天[MASK]气很好 abc[MASK]def [MASK][MASK]x [mask] [UNK]好[SEP][CLS]",
    "한국어 문장: KoELECTRA는 대소문자를 구분합니다. Seoul 서울特别市",
    "x" * 101 + " " + "长" * 101 + " " + "y" * 100,
    "\U0002b820\U0002b8b8 CJK扩展E \U00020000\U0002a700",
    "",
    "   ",
]


def _python_rows(tok, texts, pairs, max_length):
    rows = [tok(a, b, max_length=max_length, truncation=True) for a, b in zip(texts, pairs)]
    return {key: [row[key] for row in rows] for key in ("input_ids", "token_type_ids")}


@pytest.fixture(scope="module", params=[True, False], ids=["lower", "cased"])
def tok(request, ltp_dir):
    tok = ElectraTokenizer(os.path.join(ltp_dir, "vocab.txt"), do_lower_case=request.param)
    assert tok.fast_tokenizer is not None
    return tok


def test_fast_path_equals_python_on_chnsenticorp(tok, chnsenticorp_dir):
    texts = _chnsenticorp(chnsenticorp_dir) + EDGE
    assert tok.encode_batch(texts) == _python_rows(tok, texts, [None] * len(texts), None)


@pytest.mark.parametrize("max_length", [16, 32, 128])
def test_fast_path_pairs_truncate_as_python(tok, chnsenticorp_dir, max_length):
    """Consecutive sentences as pairs; every third text alone (pair None)."""
    texts = _chnsenticorp(chnsenticorp_dir)[:1500] + EDGE
    pairs = [None if i % 3 == 0 else pair for i, pair in enumerate(texts[1:] + [None])]
    assert tok.encode_batch(texts, pairs, max_length=max_length) == _python_rows(
        tok, texts, pairs, max_length
    )


def test_fast_path_edge_text(tok):
    fast = tok.encode_batch(EDGE, max_length=512)
    assert fast == _python_rows(tok, EDGE, [None] * len(EDGE), 512)
    by_text = dict(zip(EDGE, fast["input_ids"]))
    long_words = tok.convert_ids_to_tokens(by_text["x" * 101 + " " + "长" * 101 + " " + "y" * 100])
    assert long_words[1] == "[UNK]" and long_words.count("长") == 101 and long_words[-2] != "[UNK]"
    assert (
        tok.mask_token_id in by_text["今天[MASK]气很好 abc[MASK]def [MASK][MASK]x [mask] [UNK]好[SEP][CLS]"]
    )


def test_fast_path_on_every_character_of_common_blocks(tok):
    """Every code point of Latin, Greek, Cyrillic, punctuation and symbols, CJK radicals and
    symbols, kana, Hangul, CJK, fullwidth forms and emoji, 50 a line, unassigned ones and those of
    scripts newer than tokenizers' own Unicode tables (e.g. U+2E43-U+2E4F) included."""
    blocks = [
        (0x20, 0x250),
        (0x370, 0x530),
        (0x2000, 0x2C00),
        (0x2E80, 0x3100),
        (0x3130, 0x3190),
        (0x3400, 0x4DC0),
        (0x4E00, 0xA000),
        (0xAC00, 0xD7A4),
        (0xF900, 0xFB00),
        (0xFF00, 0xFFF0),
        (0x1F300, 0x1FB00),
    ]
    chars = [chr(cp) for start, end in blocks for cp in range(start, end)]
    lines = ["".join(chars[i : i + 50]) for i in range(0, len(chars), 50)]
    assert tok.encode_batch(lines) == _python_rows(tok, lines, [None] * len(lines), None)


def test_longest_first_is_paddlenlps_truncation(tok):
    for n_a in range(12):
        for n_b in range(12):
            for budget in range(n_a + n_b + 1):
                a, b, _ = tok.truncate_sequences(list(range(n_a)), list(range(n_b)), n_a + n_b - budget)
                assert tokenizer_module.longest_first(n_a, n_b, budget) == (len(a), len(b))


def test_falls_back_to_python_without_tokenizers(ltp_dir, monkeypatch):
    monkeypatch.setattr(tokenizer_module, "tokenizers", None)
    tok = ElectraTokenizer(os.path.join(ltp_dir, "vocab.txt"))
    assert tok.fast_tokenizer is None
    pairs = EDGE[1:] + [None]
    assert tok.encode_batch(EDGE, pairs, max_length=24) == _python_rows(tok, EDGE, pairs, 24)


def _random_text(rng):
    """1-12 characters: any code point (lone surrogates included), the first 12,288 more often,
    and characters the tokenizers treat specially (controls, accents, Σ, İ, CJK, Hangul, [MASK])."""
    special = [
        "\x01",
        "\x85",
        "\u200b",
        "\ufffd",
        "\u0301",
        "\u2028",
        "\u3000",
        " ",
        "\u03a3",
        "\u0130",
        "a",
        "Z",
        "\u4e00",
        "\uac00",
        "\ud800",
        "\u2e43",
        "[MASK]",
        "##",
        "\u05f6",
        "\u061d",
    ]
    out = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        out.append(
            chr(rng.randint(0, 0x2FFF))
            if roll < 0.4
            else chr(rng.randint(0, 0x10FFFF))
            if roll < 0.7
            else rng.choice(special)
        )
    return "".join(out)


def _kept_combining(text):
    """Whether `text` holds a combining character that accent stripping keeps (a spacing mark with
    a combining class): canonical reordering moves those, and tokenizers' NFD tables, older than
    Python's, and its alignments (which stay in place when characters are reordered) then give
    another span than the character's own."""
    return any(unicodedata.combining(c) and unicodedata.category(c) != "Mn" for c in text)


def test_both_engines_give_the_same_ids_and_spans_on_random_unicode(tok):
    """Property test, 3000 seeded random strings: the Rust engine (encode_batch, tokenizers'
    offsets) and the Python one (__call__, encode_with_spans) agree on every id and span."""
    import random

    rng = random.Random(13)
    texts = [_random_text(rng) for _ in range(3000)]
    python = _python_rows(tok, texts, [None] * len(texts), None)
    assert tok.encode_batch(texts) == python
    pairs = texts[1:] + texts[:1]
    assert tok.encode_batch(texts[:500], pairs[:500], max_length=12) == _python_rows(
        tok, texts[:500], pairs[:500], 12
    )
    compared = 0
    for text, ids in zip(texts, python["input_ids"]):
        aligned, spans = tok.encode_with_spans(text)
        assert aligned == ids[1:-1], ascii(text)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text) or (tok.do_lower_case and _kept_combining(text)):
            continue  # Rust strings hold no surrogates (the Python engine removes them)
        rust = tok.fast_tokenizer.encode(text, add_special_tokens=False)
        assert [tuple(o) for o in rust.offsets] == spans, ascii(text)
        compared += 1
    assert compared > 2500


def test_spans_point_at_the_characters_of_each_token(tok):
    # a removed control character and a decomposed Hangul syllable (2 characters) once cancelled out
    ids, spans = tok.encode_with_spans("\x01\uac00")
    assert ids == tok("\x01\uac00")["input_ids"][1:-1] and set(spans) == {(1, 2)}
    ids, spans = tok.encode_with_spans("Caf\u00e9\x07s \u05f6x")
    assert [text for text in ("Caf\u00e9\x07s \u05f6x"[a:b] for a, b in spans)][-1].endswith("x")
    assert spans[0][0] == 0 and all(b <= len("Caf\u00e9\x07s \u05f6x") for _, b in spans)
    for text in ("\u05f6", "\u061d\u06f5", "\x01\uac00"):  # unassigned code points and the case above
        assert tok.encode_batch([text])["input_ids"] == [tok(text)["input_ids"]]
