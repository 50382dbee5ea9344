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


def entity_f1(gold_tags, predicted_tags, suffix=False):
    """Entity-level precision, recall and F1 (seqeval, default mode) over lists of tag sequences;
    `suffix`: tags written TYPE-B."""
    from seqeval.metrics import f1_score as seqeval_f1
    from seqeval.metrics import precision_score, recall_score

    return {
        "precision": precision_score(gold_tags, predicted_tags, suffix=suffix),
        "recall": recall_score(gold_tags, predicted_tags, suffix=suffix),
        "f1": seqeval_f1(gold_tags, predicted_tags, suffix=suffix),
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


# ---- text-regression and multi-label classification ------------------------------------------
def regression_scores(gold, predicted):
    """{"pearson", "spearman", "mse"} of numeric predictions against the gold values: Pearson's and
    Spearman's correlation (scipy.stats) and the mean squared error. A correlation that is undefined
    (fewer than two values, or either side constant) is 0.0, so that choosing the best checkpoint by
    it still works."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    gold, predicted = (np.asarray(values, dtype=np.float64) for values in (gold, predicted))
    defined = len(gold) > 1 and np.ptp(gold) > 0 and np.ptp(predicted) > 0
    return {
        "pearson": float(pearsonr(gold, predicted)[0]) if defined else 0.0,
        "spearman": float(spearmanr(gold, predicted)[0]) if defined else 0.0,
        "mse": float(np.mean((gold - predicted) ** 2)),
    }


def multi_label_scores(gold, predicted, labels=(), report=False):
    """{"micro_f1", "macro_f1", "exact_match"} of predicted label sets against the gold ones (lists
    of label collections; + "per_class" with `report`, as `classification_scores`). Micro-F1 counts
    every (example, label) decision; macro-F1 averages the per-label F1 over the labels present in
    `gold` or `predicted` (scikit-learn's, given those labels); exact_match is the share of examples
    whose predicted set equals the gold set (subset accuracy). No positive anywhere: F1 0.0."""
    gold, predicted = [set(g) for g in gold], [set(p) for p in predicted]
    present = set().union(*gold, *predicted)
    classes = [label for label in labels if label in present] + sorted(present - set(labels))
    table = {}
    for label in classes:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted))
        n_pred, n_gold = sum(label in p for p in predicted), sum(label in g for g in gold)
        precision, recall = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        table[label] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    decided = sum(len(g) + len(p) for g, p in zip(gold, predicted))
    scores = {
        "micro_f1": 2 * tp / decided if decided else 0.0,
        "macro_f1": sum(row["f1"] for row in table.values()) / len(table) if table else 0.0,
        "exact_match": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
    }
    if report:
        scores["per_class"] = table
    return scores


def best_threshold(gold, probabilities, default=0.5):
    """(threshold, micro-F1): the decision threshold (a label is predicted where its probability is
    >= the threshold) that maximizes micro-F1 of `probabilities` [examples, labels] against the
    multi-hot `gold` of the same shape. Micro-F1 only changes where the threshold passes a
    probability, so every cut between two neighbouring distinct probabilities is tried, at their
    midpoint (below the smallest: half of it; above the largest: halfway to 1); among equal F1 the
    threshold nearest `default` wins."""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(gold).ravel().astype(bool)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    if not len(p):
        return float(default), 0.0
    last = np.flatnonzero(np.append(p[1:] != p[:-1], True))  # the last position of each distinct value
    tp = np.cumsum(y)[last]  # predicting p >= p[k]: true positives, and k + 1 predicted positives
    f1 = np.append(2 * tp / np.maximum(last + 1 + y.sum(), 1), 0.0)  # ..., then predicting nothing
    below = np.append(p[last[1:]], p[-1] / 2)  # the next smaller value of each cut (half the smallest)
    thresholds = np.append((p[last] + below) / 2, (1 + p[0]) / 2)
    best = np.flatnonzero(f1 == f1.max())
    choice = best[np.argmin(np.abs(thresholds[best] - default))]
    return float(thresholds[choice]), float(f1[choice])
