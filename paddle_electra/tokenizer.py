"""Tokenizer: BERT WordPiece exactly as in the original ELECTRA code.

paddlenlp's `ElectraTokenizer` is that tokenizer (basic tokenizer that splits CJK characters and
punctuation, optional lower-casing and accent stripping, then greedy longest-match WordPiece);
tests/test_tokenizer.py proves it gives the same ids as HF transformers' `BertTokenizer` on the
real 21128-token Chinese vocab and real Chinese text, so it is reused rather than rewritten.
Chinese models lower-case; KoELECTRA does not (`do_lower_case=False`).
"""
from paddlenlp.transformers import ElectraTokenizer


def save_tokenizer(vocab_file, out_dir, do_lower_case=True):
    """Write vocab.txt + tokenizer_config.json into `out_dir` (loadable with ElectraTokenizer.from_pretrained)."""
    ElectraTokenizer(vocab_file, do_lower_case=do_lower_case).save_pretrained(out_dir)


__all__ = ["ElectraTokenizer", "save_tokenizer"]
