"""question-answering: [question, context] -> an answer span of the context (SQuAD json; windows and
post-processing in `squad.py`)."""

from paddle_electra.models.heads import ElectraForQuestionAnswering
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import cmrc_scores
from paddle_electra.tasks.readers import DataError, read_squad
from paddle_electra.tasks.squad import featurize, postprocess

QA_DEFAULTS = {"max_query_length": 64, "doc_stride": 128, "n_best_size": 20, "max_answer_length": 30}


class QuestionAnswering(TaskKind):
    """[question, context] -> an answer span of the context. Options: max_query_length,
    doc_stride, n_best_size, max_answer_length (QA_DEFAULTS, as the original code); answerability
    (trained on SQuAD v2 `is_impossible`: an empty answer when the no-answer score wins)."""

    kind = "question-answering"
    hub_field = "text"
    head = ElectraForQuestionAnswering
    metric = "f1"
    stdin = "qa"
    needs_labels = False

    def __init__(self, name=None, labels=(), reader=None, **options):
        super().__init__(
            name, labels, reader, **{**QA_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        )

    def _read(self, path, labelled, training):
        return read_squad(path, training=training, encoding=self.encoding)

    def read_train(self, path):
        examples = super().read_train(path)
        self.options["answerability"] = any(e.is_impossible for e in examples)
        return examples

    def build(self, directory, **head_options):
        net = super().build(directory, **head_options)
        if self.options.get("answerability") and net.config.qa_head != "original":
            raise DataError(
                "the training file has unanswerable questions (is_impossible), which only the original head "
                "learns: pass --qa-head original"
            )
        return net

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        o = self.options
        windows = featurize(
            examples,
            tokenizer,
            max_seq_length=max_seq_length,
            max_query_length=o["max_query_length"],
            doc_stride=o["doc_stride"],
            training=training,
        )
        rows = [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids} for f in windows]
        if training:
            for row, f in zip(rows, windows):
                row.update(start_positions=f.start_position, end_positions=f.end_position)
                if o.get("answerability"):
                    row["is_impossible"] = int(examples[f.example_index].is_impossible)
        return rows, windows

    def decode(self, examples, rows, windows, outputs):
        o = self.options
        answers = postprocess(
            examples,
            windows,
            outputs,
            n_best_size=o["n_best_size"],
            max_answer_length=o["max_answer_length"],
            allow_impossible=bool(o.get("answerability")),
        )
        return [answers[e.qid] for e in examples]

    def score(self, examples, predictions, report=False):
        scores = cmrc_scores(
            {e.qid: [a["text"] for a in e.answers] or [""] for e in examples},
            {e.qid: p["text"] for e, p in zip(examples, predictions)},
        )
        return {"em": scores["em"], "f1": scores["f1"]}

    def format(self, example, prediction):
        best = (
            prediction["n_best"][0]
            if prediction["text"] and prediction["n_best"]
            else {"start": None, "end": None}
        )
        return {
            "id": example.qid,
            "question": example.question,
            "answer": prediction["text"],
            "start": best["start"],
            "end": best["end"],
            "probability": round(prediction["probability"], 6),
        }
