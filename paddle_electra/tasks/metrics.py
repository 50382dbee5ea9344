"""Metrics of the seed tasks.

`cmrc_scores` is the official CMRC 2018 / DRCD evaluation (cmrc2018_evaluate.py) in Python 3:
answers and predictions are lower-cased and segmented into Chinese characters and English words
(nltk's word tokenizer), punctuation is removed, F1 is computed from the longest common substring
of the segments, EM compares the texts with punctuation removed, each question takes its best
gold answer, and both are averaged over all questions x 100 (a question without prediction scores 0).
The official script calls `nltk.word_tokenize`, which first splits sentences with punkt data that
must be downloaded; answers are single spans, so the word tokenizer alone (`NLTKWordTokenizer`,
which word_tokenize applies to each sentence) is used.

`classification_scores` is accuracy and macro-averaged F1 (the mean of the per-class F1 over the
classes that occur in the gold labels or the predictions, as scikit-learn's default), with an
optional per-class table. `entity_f1` is entity-level (chunk) precision/recall/F1 from seqeval, for
BIO or BIOES tags.
"""

import re

from nltk.tokenize import NLTKWordTokenizer

# The official script's punctuation list.
PUNCTUATION = set("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』") | {"……"}
_CHINESE = re.compile(r"[\u4e00-\u9fa5]")
_word_tokenizer = NLTKWordTokenizer()


def mixed_segmentation(text, remove_punctuation=False):
    """Chinese characters and punctuation one by one; runs of other characters as English words."""
    segments, pending = [], ""
    for char in str(text).lower().strip():
        if remove_punctuation and char in PUNCTUATION:
            continue
        if _CHINESE.match(char) or char in PUNCTUATION:
            if pending:
                segments.extend(_word_tokenizer.tokenize(pending))
                pending = ""
            segments.append(char)
        else:
            pending += char
    if pending:
        segments.extend(_word_tokenizer.tokenize(pending))
    return segments


def remove_punctuation(text):
    return "".join(char for char in str(text).lower().strip() if char not in PUNCTUATION)


def longest_common_substring(a, b):
    """Length of the longest common contiguous run of two segment lists."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def f1_score(answers, prediction):
    prediction_segments = mixed_segmentation(prediction, remove_punctuation=True)
    scores = [0.0]
    for answer in answers:
        answer_segments = mixed_segmentation(answer, remove_punctuation=True)
        common = longest_common_substring(answer_segments, prediction_segments)
        if common:
            precision, recall = common / len(prediction_segments), common / len(answer_segments)
            scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def exact_match(answers, prediction):
    return float(any(remove_punctuation(answer) == remove_punctuation(prediction) for answer in answers))


def cmrc_scores(gold, predictions):
    """gold: {qid: [answer texts]}, predictions: {qid: text}
    -> {"em": .., "f1": .., "total": n, "skipped": n}."""
    em = f1 = 0.0
    skipped = 0
    for qid, answers in gold.items():
        if qid not in predictions:
            skipped += 1
            continue
        em += exact_match(answers, predictions[qid])
        f1 += f1_score(answers, predictions[qid])
    total = len(gold)
    return {"em": 100.0 * em / total, "f1": 100.0 * f1 / total, "total": total, "skipped": skipped}


def entity_f1(gold_tags, predicted_tags):
    """Entity-level precision, recall and F1 (seqeval, default mode) over lists of tag sequences."""
    from seqeval.metrics import f1_score as seqeval_f1
    from seqeval.metrics import precision_score, recall_score

    return {
        "precision": precision_score(gold_tags, predicted_tags),
        "recall": recall_score(gold_tags, predicted_tags),
        "f1": seqeval_f1(gold_tags, predicted_tags),
    }


def accuracy(gold, predicted):
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def classification_scores(gold, predicted, labels=(), report=False):
    """{"accuracy", "macro_f1"} (+ "per_class": {label: {precision, recall, f1, support}} with `report`).
    Macro-F1 averages the classes present in `gold` or `predicted`; `labels` orders the table."""
    classes = [label for label in labels if label in set(gold) | set(predicted)]
    classes += sorted(set(gold) | set(predicted) - set(classes))
    table = {}
    for label in classes:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        n_pred, n_gold = predicted.count(label), gold.count(label)
        precision, recall = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        table[label] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    scores = {
        "accuracy": accuracy(gold, predicted),
        "macro_f1": sum(row["f1"] for row in table.values()) / len(table),
    }
    if report:
        scores["per_class"] = table
    return scores
