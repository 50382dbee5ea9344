"""Our tokenizer (paddlenlp's ElectraTokenizer, reused) gives the same ids as HF transformers'
BertTokenizer on the real 21128-token Chinese ELECTRA vocab, sentence by sentence."""
import csv
import os

import pytest
from transformers import BertTokenizer

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
    assert len(texts) > 10000
    mismatches = [t for t in texts if ours(t)["input_ids"] != theirs(t)["input_ids"]]
    assert mismatches == []


def test_pairs_and_special_tokens_equal_hf(ltp_dir):
    vocab = os.path.join(ltp_dir, "vocab.txt")
    ours, theirs = ElectraTokenizer(vocab), BertTokenizer(vocab)
    for a, b in zip(MIXED, MIXED[1:] + ["今天[MASK]气很好"]):
        assert ours(a, b)["input_ids"] == theirs(a, b)["input_ids"]
        assert ours(a, b)["token_type_ids"] == theirs(a, b)["token_type_ids"]
    assert ours.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 100, 101, 102, 103]
