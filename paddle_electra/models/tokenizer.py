"""Tokenizer: BERT WordPiece exactly as in the original ELECTRA code (google-research/bert's
tokenization.py): clean text, put spaces around CJK characters, optional lower-casing with accent
stripping, split on punctuation, then greedy longest-match WordPiece.

paddlenlp's `ElectraTokenizer` does all of that except one rule: it also splits off every Unicode
symbol (category S*, e.g. `～` `★` `▽`), which the original keeps inside words, so on real Chinese
reviews ("4～6个小时") it yields different ids. `ElectraTokenizer` here is paddlenlp's with the
original punctuation rule; tests/test_tokenizer.py proves it equals HF transformers' `BertTokenizer`
on the real 21128-token vocab over every ChnSentiCorp sentence. Chinese models lower-case;
KoELECTRA does not (`do_lower_case=False`). Special tokens such as `[MASK]` written in the text
are kept whole, anywhere in the text (as HF does), which fill-mask relies on.

One tokenizer, two engines: `ElectraTokenizer.encode_batch` tokenizes many texts at once in Rust
with HF `tokenizers`, falling back to the Python tokenizer where `tokenizers` is not installed (or
for a text Rust cannot take, with lone surrogates). Both give the same ids, and
`encode_with_spans` (Python) the same character spans as the Rust engine's offsets: a property
test compares them on thousands of random Unicode strings. `tokenizers`' own BERT normalizer and
pre-tokenizer use Unicode tables older than Python's (and keep unassigned code points, which the
original removes with every other category C* character), so the Rust engine here is built from
character classes taken from Python's `unicodedata`, as the original code is.
"""

import functools
import itertools
import re
import unicodedata

from paddlenlp.transformers import ElectraTokenizer as _PaddleNLPElectraTokenizer
from paddlenlp.transformers.bert.tokenizer import BasicTokenizer
from paddlenlp.transformers.tokenizer_utils import _is_control, _is_punctuation, _is_whitespace

from paddle_electra.models.weights import LoadError
from paddle_electra.sources.pretrained import resolve

try:
    import tokenizers
except ImportError:  # optional: without it encode_batch runs the Python tokenizer
    tokenizers = None


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
    original code's basic tokenization, `encode_batch` for many texts at once and
    `encode_with_spans` for character positions."""

    def __init__(self, vocab_file, do_lower_case=True, **kwargs):
        try:
            super().__init__(vocab_file, do_lower_case=do_lower_case, **kwargs)
        except UnicodeDecodeError as e:
            raise LoadError(
                f"{vocab_file} is not UTF-8 text ({e}): pass the vocab.txt released with the model"
            ) from None
        self._aligner = None
        # paddlenlp cuts no special token out of the text ("abc[MASK]def" -> "[", "mask", ...); HF does
        self.unique_no_split_tokens = sorted(set(self.unique_no_split_tokens) | set(self.all_special_tokens))
        self._create_trie(self.unique_no_split_tokens)
        if self.do_basic_tokenize:
            basic = self.basic_tokenizer
            self.basic_tokenizer = OriginalBasicTokenizer(
                do_lower_case=basic.do_lower_case,
                never_split=basic.never_split,
                tokenize_chinese_chars=basic.tokenize_chinese_chars,
                strip_accents=basic.strip_accents,
            )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """From a model directory, a zoo name or a Hub repo id (see paddle_electra.sources.pretrained),
        or a paddlenlp name."""
        return super().from_pretrained(resolve(pretrained_model_name_or_path), *args, **kwargs)

    @functools.cached_property
    def fast_tokenizer(self):
        """The same tokenization in HF `tokenizers` (Rust), or None where that is not available."""
        return build_fast_tokenizer(self)

    def encode_batch(self, texts, text_pairs=None, max_length=None):
        """`self(text, pair, max_length=max_length, truncation=True)` for every text (and pair; a
        pair may be None) at once, as {"input_ids": [[...], ...], "token_type_ids": [[...], ...]}."""
        pairs = [None] * len(texts) if text_pairs is None else list(text_pairs)
        inputs = [text if pair is None else (text, pair) for text, pair in zip(texts, pairs)]
        try:
            encodings = (
                self.fast_tokenizer.encode_batch_fast(inputs) if self.fast_tokenizer is not None else None
            )  # no offsets: ~10% faster
        except (
            UnicodeEncodeError,
            TypeError,
        ):  # lone surrogates, which Rust strings cannot hold (TypeError in a
            # batch): the Python engine removes them (and says what is wrong with an input that is not text)
            encodings = None
        if encodings is None:
            rows = [
                self(text, pair, max_length=max_length, truncation=True) for text, pair in zip(texts, pairs)
            ]
            return {key: [row[key] for row in rows] for key in ("input_ids", "token_type_ids")}
        out = {"input_ids": [], "token_type_ids": []}
        for enc, pair in zip(encodings, pairs):
            ids = enc.ids
            types = [0] * len(ids) if pair is None else enc.type_ids  # faster than reading them
            if max_length is not None and len(ids) > max_length:  # [CLS] a [SEP] (b [SEP])
                n_a = types.count(0) - 2
                a, b = ids[1 : 1 + n_a], ids[2 + n_a : -1]
                n_a, n_b = longest_first(len(a), len(b), max_length - (2 if pair is None else 3))
                ids = [self.cls_token_id, *a[:n_a], self.sep_token_id] + (
                    [] if pair is None else [*b[:n_b], self.sep_token_id]
                )
                types = [0] * (n_a + 2) + [1] * (0 if pair is None else n_b + 1)
            out["input_ids"].append(ids)
            out["token_type_ids"].append(types)
        return out

    def encode_with_spans(self, text):
        """(token ids, character span (start, end) of each token in `text`), without [CLS]/[SEP]; the
        ids equal tokenizing `text`. Use this, not paddlenlp's offset_mapping, which loses the spans
        of the words after a multi-character [UNK]."""
        if self._aligner is None:
            self._aligner = TokenAligner(self)
        return self._aligner(text)


def longest_first(n_a, n_b, budget):
    """The lengths paddlenlp's `longest_first` truncation keeps of two sequences: it drops the last
    token of the longer one (of the second on a tie) until both fit in `budget` tokens together."""
    excess = n_a + n_b - budget
    if excess <= 0:
        return n_a, n_b
    if abs(n_a - n_b) >= excess:
        return (n_a - excess, n_b) if n_a > n_b else (n_a, n_b - excess)
    return (budget + 1) // 2, budget // 2


@functools.lru_cache(maxsize=None)
def unicode_classes():
    """Regex character classes (for `tokenizers`' Oniguruma) of the characters the original BERT
    tokenization treats specially, by Python's unicodedata: "removed" (NUL, U+FFFD and category C*
    but tab, newline and return), "space" (those three and Zs), "mark" (Mn: stripped with the
    accents), "punctuation" (P* and the ASCII symbols), "cjk" (`is_cjk`). Computed once per process
    (every code point's category)."""
    members = {name: [] for name in ("removed", "space", "mark", "punctuation", "cjk")}
    for cp in itertools.chain(range(0xD800), range(0xE000, 0x110000)):  # surrogates: Rust strings hold none
        char = chr(cp)
        category = unicodedata.category(char)
        if cp == 0 or cp == 0xFFFD or (category[0] == "C" and char not in "\t\n\r"):
            members["removed"].append(cp)
        elif category == "Zs" or char in "\t\n\r":
            members["space"].append(cp)
        elif category == "Mn":
            members["mark"].append(cp)
        elif _is_punctuation(char):
            members["punctuation"].append(cp)
        elif is_cjk(char):
            members["cjk"].append(cp)
    return {name: _char_class(cps) for name, cps in members.items()}


def _char_class(code_points):
    ranges = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges) + "]"


def build_fast_tokenizer(tokenizer):
    """`tokenizer`'s tokenization as a HF `tokenizers.Tokenizer` (Rust), step by step as the
    original: remove control characters, whitespace to spaces, (lower-case, NFD, strip marks), split
    around CJK characters, at whitespace and around punctuation, WordPiece on the same vocab;
    [CLS] A [SEP] (B [SEP]) with token types, special tokens cut out of the raw text. Character
    classes come from Python's unicodedata (`unicode_classes`). None where `tokenizers` is missing
    or the settings have no Rust equivalent here (no basic tokenization; special or added tokens
    outside vocab.txt)."""
    vocab = tokenizer.vocab.token_to_idx
    if (
        tokenizers is None
        or not tokenizer.do_basic_tokenize
        or not set(tokenizer.unique_no_split_tokens) <= vocab.keys()
    ):
        return None
    from tokenizers import Regex, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    basic, classes = tokenizer.basic_tokenizer, unicode_classes()
    fast = tokenizers.Tokenizer(
        WordPiece(
            dict(vocab),
            unk_token=tokenizer.unk_token,
            max_input_chars_per_word=tokenizer.wordpiece_tokenizer.max_input_chars_per_word,
        )
    )
    steps = [
        normalizers.Replace(Regex(classes["removed"]), ""),
        normalizers.Replace(Regex(classes["space"]), " "),
    ]
    if basic.do_lower_case:
        steps.append(normalizers.Lowercase())
    if basic.strip_accents or (basic.strip_accents is None and basic.do_lower_case):
        steps += [normalizers.NFD(), normalizers.Replace(Regex(classes["mark"]), "")]
    fast.normalizer = normalizers.Sequence(steps)
    pre = [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(classes["punctuation"]), "isolated")]
    if basic.tokenize_chinese_chars:
        pre.insert(0, pre_tokenizers.Split(Regex(classes["cjk"]), "isolated"))
    fast.pre_tokenizer = pre_tokenizers.Sequence(pre)
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    fast.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tokenizer.cls_token_id), (sep, tokenizer.sep_token_id)],
    )
    fast.add_special_tokens(list(tokenizer.unique_no_split_tokens))
    return fast


def is_cjk(char):
    """A CJK ideograph, with the same code-point ranges that BERT's tokenizer splits around."""
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class TokenAligner:
    """Tokenize exactly as the tokenizer does, and keep each token's character span in the text.

    BERT's basic tokenization is local: whitespace and CJK characters separate chunks, and each
    chunk is tokenized on its own. So the text is cut into chunks with known spans, and each chunk
    is normalized one character at a time as the tokenizer does (control characters removed;
    lower-cased, decomposed and stripped of marks), remembering which character each normalized
    one came from; it is then split around punctuation and WordPiece'd. A token's span runs from
    the first to the last character it came from (a removed character belongs to no token; all
    the characters one character becomes, e.g. a decomposed Hangul syllable, share its span), and
    an [UNK] spans its whole word: the offsets of the Rust engine. Results are cached per chunk.
    """

    def __init__(self, tokenizer):
        if not tokenizer.do_basic_tokenize:
            raise ValueError(
                "TokenAligner follows BERT's basic tokenization: the tokenizer has do_basic_tokenize=False"
            )
        self.tokenizer = tokenizer
        # As paddlenlp's PretrainedTokenizer.tokenize: the text is first cut at the no-split tokens
        # ([MASK], [UNK], ...; longest first); then each piece goes through `_tokenize`.
        no_split = sorted(tokenizer.unique_no_split_tokens, key=len, reverse=True)
        self._no_split = re.compile("|".join(re.escape(t) for t in no_split)) if no_split else None
        basic = tokenizer.basic_tokenizer
        self._lower = (
            basic.do_lower_case
        )  # paddlenlp lower-cases one character at a time (so a final sigma stays σ)
        self._strip = basic.strip_accents or (basic.strip_accents is None and basic.do_lower_case)
        self._cache = {}

    def _normalized(self, chunk):
        """(normalized chunk, for each of its characters the index in `chunk` it comes from)."""
        chars, origins = [], []
        for i, char in enumerate(chunk):
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            out = char.lower() if self._lower else char
            out = unicodedata.normalize("NFD", out) if self._strip else out
            chars += out
            origins += [i] * len(out)
        if self._strip:
            # NFD of the whole chunk = each character's decomposition, then each run of combining
            # characters in the order of their combining classes (each keeping its origin); then
            # the marks (Mn) go
            pairs = list(zip(chars, origins))
            for combining, run in itertools.groupby(
                range(len(pairs)), key=lambda k: unicodedata.combining(pairs[k][0]) > 0
            ):
                run = list(run)
                if combining and len(run) > 1:
                    pairs[run[0] : run[-1] + 1] = sorted(
                        pairs[run[0] : run[-1] + 1], key=lambda p: unicodedata.combining(p[0])
                    )
            kept = [(c, i) for c, i in pairs if unicodedata.category(c) != "Mn"]
            chars, origins = [c for c, _ in kept], [i for _, i in kept]
        return "".join(chars), origins

    def _pieces(self, chunk):
        """Chunk -> list of (token, start, end) relative to the chunk."""
        if chunk in self._cache:
            return self._cache[chunk]
        wordpiece = self.tokenizer.wordpiece_tokenizer
        text, origins = self._normalized(chunk)
        words, start = [], None  # (start, end) in `text`: runs between punctuation, and each punctuation mark
        for i, char in enumerate(text):
            if _is_punctuation(char):
                words += ([(start, i)] if start is not None else []) + [(i, i + 1)]
                start = None
            elif start is None:
                start = i
        words += [(start, len(text))] if start is not None else []
        out = []
        for a, b in words:
            inner = a
            for n, piece in enumerate(wordpiece.tokenize(text[a:b])):
                if piece == wordpiece.unk_token:
                    out.append((piece, origins[a], origins[b - 1] + 1))
                    continue
                width = len(piece) - 2 if n > 0 and piece.startswith("##") else len(piece)
                out.append((piece, origins[inner], origins[inner + width - 1] + 1))
                inner += width
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
    """Write vocab.txt + tokenizer_config.json into `out_dir` (loadable with
    ElectraTokenizer.from_pretrained)."""
    ElectraTokenizer(vocab_file, do_lower_case=do_lower_case).save_pretrained(out_dir)


__all__ = [
    "ElectraTokenizer",
    "TokenAligner",
    "build_fast_tokenizer",
    "encode_words",
    "is_cjk",
    "longest_first",
    "save_tokenizer",
]
