"""Tokenizer: BERT WordPiece exactly as in the original ELECTRA code (google-research/bert's
tokenization.py): clean text, put spaces around CJK characters, optional lower-casing with accent
stripping, split on punctuation, then greedy longest-match WordPiece.

paddlenlp's `ElectraTokenizer` does all of that except one rule: it also splits off every Unicode
symbol (category S*, e.g. `～` `★` `▽`), which the original keeps inside words, so on real Chinese
reviews ("4～6个小时") it yields different ids. `ElectraTokenizer` here is paddlenlp's with the
original punctuation rule; tests/test_tokenizer.py proves it equals HF transformers' `BertTokenizer`
on the real 21128-token vocab over every ChnSentiCorp sentence. Chinese models lower-case;
KoELECTRA does not (`do_lower_case=False`). Special tokens such as `[MASK]` written in the text
are kept whole (as HF and paddlenlp do), which fill-mask relies on.
"""
from paddlenlp.transformers import ElectraTokenizer as _PaddleNLPElectraTokenizer
from paddlenlp.transformers.bert.tokenizer import BasicTokenizer
from paddlenlp.transformers.tokenizer_utils import _is_punctuation


class OriginalBasicTokenizer(BasicTokenizer):
    """paddlenlp's BasicTokenizer splitting on punctuation only, as the original BERT code does."""

    def _run_split_on_punc(self, text, never_split=None):
        if never_split is not None and text in never_split:
            return [text]
        words, start_new_word = [], True
        for char in text:
            if _is_punctuation(char):
                words.append(char)
                start_new_word = True
            else:
                if start_new_word:
                    words.append("")
                words[-1] += char
                start_new_word = False
        return words


class ElectraTokenizer(_PaddleNLPElectraTokenizer):
    """paddlenlp's ElectraTokenizer (same API, vocab.txt + tokenizer_config.json) with the
    original code's basic tokenization."""

    def __init__(self, vocab_file, do_lower_case=True, **kwargs):
        super().__init__(vocab_file, do_lower_case=do_lower_case, **kwargs)
        if self.do_basic_tokenize:
            basic = self.basic_tokenizer
            self.basic_tokenizer = OriginalBasicTokenizer(
                do_lower_case=basic.do_lower_case,
                never_split=basic.never_split,
                tokenize_chinese_chars=basic.tokenize_chinese_chars,
                strip_accents=basic.strip_accents,
            )


def encode_words(tokenizer, words, max_length):
    """Words (or characters) -> [CLS] sub-tokens [SEP] ids, and the position of each word's first
    sub-token (None for words that no longer fit in `max_length`). The original tagging task labels
    the first sub-token of each word."""
    ids, first = [], []
    for word in words:
        pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_token_id]
        fits = len(ids) + len(pieces) <= max_length - 2
        first.append(len(ids) + 1 if fits else None)
        if fits:
            ids += pieces
    return [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id], first


def save_tokenizer(vocab_file, out_dir, do_lower_case=True):
    """Write vocab.txt + tokenizer_config.json into `out_dir` (loadable with ElectraTokenizer.from_pretrained)."""
    ElectraTokenizer(vocab_file, do_lower_case=do_lower_case).save_pretrained(out_dir)


__all__ = ["ElectraTokenizer", "encode_words", "save_tokenizer"]
