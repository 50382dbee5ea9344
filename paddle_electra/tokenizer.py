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
import re

from paddlenlp.transformers import ElectraTokenizer as _PaddleNLPElectraTokenizer
from paddlenlp.transformers.bert.tokenizer import BasicTokenizer
from paddlenlp.transformers.tokenizer_utils import _is_control, _is_punctuation, _is_whitespace


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
    original code's basic tokenization, and `encode_with_spans` for character positions."""

    def __init__(self, vocab_file, do_lower_case=True, **kwargs):
        super().__init__(vocab_file, do_lower_case=do_lower_case, **kwargs)
        self._aligner = None
        if self.do_basic_tokenize:
            basic = self.basic_tokenizer
            self.basic_tokenizer = OriginalBasicTokenizer(
                do_lower_case=basic.do_lower_case,
                never_split=basic.never_split,
                tokenize_chinese_chars=basic.tokenize_chinese_chars,
                strip_accents=basic.strip_accents,
            )


    def encode_with_spans(self, text):
        """(token ids, character span (start, end) of each token in `text`), without [CLS]/[SEP]; the
        ids equal tokenizing `text`. Use this, not paddlenlp's offset_mapping, which loses the spans
        of the words after a multi-character [UNK]."""
        if self._aligner is None:
            self._aligner = TokenAligner(self)
        return self._aligner(text)


def is_cjk(char):
    """A CJK ideograph, with the same code-point ranges that BERT's tokenizer splits around."""
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


class TokenAligner:
    """Tokenize exactly as the tokenizer does, and keep each token's character span in the text.

    BERT's basic tokenization is local: whitespace and CJK characters separate chunks, and each
    chunk is tokenized on its own. So the text is cut into chunks with known spans, and each chunk
    is passed through the tokenizer's own basic + WordPiece steps. Results are cached per chunk.
    Inside a chunk, sub-word spans are exact when normalization (lower-casing, accent stripping,
    control-character removal) keeps the chunk's length. Otherwise each of its tokens spans the
    whole chunk. Only single-CJK-character chunks are ever edited, and those are always exact.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        # As paddlenlp's PretrainedTokenizer.tokenize: the text is first cut at the no-split tokens
        # ([MASK], [UNK], ...; longest first), and lower-cased one character at a time outside the
        # special tokens (so a final sigma stays σ); then each piece goes through `_tokenize`.
        self.specials = list(tokenizer.all_special_tokens)
        no_split = sorted(tokenizer.unique_no_split_tokens, key=len, reverse=True)
        self._no_split = re.compile("|".join(re.escape(t) for t in no_split)) if no_split else None
        keep = [re.escape(t) for t in list(tokenizer.unique_no_split_tokens) + self.specials]
        self._lower = re.compile("(" + "|".join(keep) + r")|(.+?)") if getattr(tokenizer, "do_lower_case", False) else None
        self._cache = {}

    def _pieces(self, chunk):
        """Chunk -> list of (token, start, end) relative to the chunk."""
        if chunk in self._cache:
            return self._cache[chunk]
        tok = self.tokenizer
        # special tokens hold no whitespace or CJK character, so cutting into chunks first is safe
        lowered = self._lower.sub(lambda m: m.group(1) or m.group(2).lower(), chunk) if self._lower else chunk
        words = tok.basic_tokenizer.tokenize(lowered, never_split=self.specials) if tok.do_basic_tokenize else [lowered]
        exact = len("".join(words)) == len(chunk)
        out, cursor = [], 0
        for word in words:
            pieces = [word] if word in tok.basic_tokenizer.never_split else tok.wordpiece_tokenizer.tokenize(word)
            inner = cursor
            for i, piece in enumerate(pieces):
                if not exact:
                    span = (0, len(chunk))
                elif piece == tok.unk_token:
                    span = (cursor, cursor + len(word))
                else:
                    width = len(piece) - 2 if i > 0 and piece.startswith("##") else len(piece)
                    span = (inner, inner + width)
                    inner += width
                out.append((piece, *span))
            cursor += len(word)
        self._cache[chunk] = out
        return out

    def _chunks(self, text, offset):
        start = None
        for i, ch in enumerate(text):
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                if start is None:  # removed by the tokenizer, without separating the characters around it
                    start = i
            elif _is_whitespace(ch) or ch.isspace() or is_cjk(ch):
                if start is not None:
                    yield offset + start, offset + i
                    start = None
                if is_cjk(ch):
                    yield offset + i, offset + i + 1
            elif start is None:
                start = i
        if start is not None:
            yield offset + start, offset + len(text)

    def __call__(self, text):
        """text -> (token ids, [(start, end), ...]) without [CLS]/[SEP]; ids equal the tokenizer's."""
        tokens, spans, pos = [], [], 0
        segments = []
        for m in self._no_split.finditer(text) if self._no_split else ():
            segments.append((pos, m.start(), False))
            segments.append((m.start(), m.end(), True))
            pos = m.end()
        segments.append((pos, len(text), False))
        for a, b, special in segments:
            if special:
                tokens.append(text[a:b])
                spans.append((a, b))
                continue
            for s, e in self._chunks(text[a:b], a):
                for piece, ps, pe in self._pieces(text[s:e]):
                    tokens.append(piece)
                    spans.append((s + ps, s + pe))
        return self.tokenizer.convert_tokens_to_ids(tokens), spans


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


__all__ = ["ElectraTokenizer", "TokenAligner", "encode_words", "is_cjk", "save_tokenizer"]
