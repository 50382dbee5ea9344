"""Hostile and careless inputs: every class fails in one line, before building or reading much.

1. A config that disagrees with its weights is refused before any layer is built, from the
   shapes the weight files declare (safetensors header, .pdparams arrays, torch pickle without its
   storages, TF bundle index): `from_pretrained`, every `--model`, and both converters. The values
   are large enough that building first would allocate terabytes or run for minutes.
2. A pipeline needs its tower's head: a directory without it is refused (CLI and Python), and
   fine-tuning that starts a new head says so.
3. A torch storage that inflates beyond the file is refused before it is read.
"""

import json
import os
import shutil
import zipfile

import numpy as np
import paddle
import pytest
from conftest import TF_TINY
from stand_in_hub import hf_state_dict, repo_files
from torch_pickle_writer import _main_pickle

from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra.cli import main
from paddle_electra.models.weights import LoadError
from paddle_electra.pipelines import FillMask, ReplacedTokenDetection, SpellingCorrector
from paddle_electra_convert import ConversionError, convert_hf, convert_tf_checkpoint

# (field, a value the weights contradict); hidden_size keeps a head count that divides it
ARCHITECTURE_CHANGES = [
    ("vocab_size", 2_000_000_000),
    ("num_hidden_layers", 100_000),
    ("hidden_size", 1 << 20),
    ("intermediate_size", 1 << 30),
    ("max_position_embeddings", 1 << 28),
    ("type_vocab_size", 1 << 24),
    ("embedding_size", 1 << 20),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny TF fixture converted: discriminator/ and generator/, and an encoder-only directory."""
    out = tmp_path_factory.mktemp("hostile") / "converted"
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(out), progress=False)
    encoder = out / "encoder"
    ElectraDiscriminator.from_pretrained(str(out / "discriminator")).electra.save_pretrained(
        str(encoder), safe_serialization=True
    )
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(out / "discriminator" / name, encoder)
    return out


def _copy_with_config(source, target, **change):
    shutil.copytree(source, target)
    path = os.path.join(target, "config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({**config, **change}, f)
    return str(target)


def _as_pdparams(model_dir):
    """The directory with model_state.pdparams (paddle.save of the state dict) instead of safetensors."""
    state = ElectraDiscriminator.from_pretrained(model_dir).state_dict()
    paddle.save({k: v.numpy() for k, v in state.items()}, os.path.join(model_dir, "model_state.pdparams"))
    os.remove(os.path.join(model_dir, "model.safetensors"))


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: "), err
    assert all(n in err[-1] for n in needles), err[-1]
    assert not any("Traceback" in line for line in err)


@pytest.mark.parametrize("field,value", ARCHITECTURE_CHANGES)
@pytest.mark.parametrize("weights", ["safetensors", "pdparams"])
def test_a_config_that_disagrees_with_its_weights_is_refused_before_building(
    tiny, tmp_path, capsys, field, value, weights
):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny / "discriminator", model_dir)
    if weights == "pdparams":
        _as_pdparams(str(model_dir))
    _copy_with_config(model_dir, tmp_path / "bad", **{field: value})
    bad = str(tmp_path / "bad")
    with pytest.raises(LoadError, match=f"config.json says {field} = {value} but the weights hold"):
        ElectraDiscriminator.from_pretrained(bad)
    assert main(["export", bad, "--out", str(tmp_path / "export")]) == 2
    _one_error_line(capsys, f"{field} = {value}", "the weights hold")
    assert main(["rtd", "--model", bad, "今天天气很好"]) == 2
    _one_error_line(capsys, f"{field} = {value}")
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("field,value", ARCHITECTURE_CHANGES[:3])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_convert_hf_checks_the_config_against_the_pickle_before_building(
    tiny, tmp_path, capsys, field, value, legacy
):
    files = repo_files(
        hf_state_dict(str(tiny / "discriminator"), "discriminator"),
        "discriminator",
        {"architectures": ["ElectraForPreTraining"], field: value},
        legacy,
    )
    repo = tmp_path / "hf"
    repo.mkdir()
    for name, data in files.items():
        (repo / name).write_bytes(data)
    with pytest.raises(ConversionError, match=f"{field} = {value} but the weights hold"):
        convert_hf(str(repo), str(tmp_path / "out"))
    assert main(["convert", "hf", str(repo), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, f"{field} = {value}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field,value", ARCHITECTURE_CHANGES[:3])
def test_convert_tf_checks_the_config_against_the_index_before_building(tmp_path, capsys, field, value):
    release = shutil.copytree(os.path.join(TF_TINY, "release"), tmp_path / "release")
    path = release / "discriminator.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, field: value}))
    with pytest.raises(ConversionError, match=f"{field} = {value} but the weights hold"):
        convert_tf_checkpoint(str(release), str(tmp_path / "out"), progress=False)
    assert main(["convert", "tf", str(release), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, f"{field} = {value}", "--discriminator-config")
    assert not (tmp_path / "out").exists()


def test_a_storage_that_inflates_beyond_the_file_is_refused_before_reading(tiny, tmp_path):
    """A 64 MiB deflated stream of zeros in a few kB: the tensors would read only their own bytes,
    but no real torch file compresses storages, so the file is refused outright."""
    state = {
        k: np.ascontiguousarray(v, np.float32)
        for k, v in hf_state_dict(str(tiny / "discriminator"), "discriminator").items()
    }
    repo = tmp_path / "hf"
    repo.mkdir()
    files = repo_files(state, "discriminator", {"architectures": ["ElectraForPreTraining"]}, False)
    for name, data in files.items():
        if name != "pytorch_model.bin":
            (repo / name).write_bytes(data)
    with zipfile.ZipFile(repo / "pytorch_model.bin", "w") as zf:
        zf.writestr("archive/data.pkl", _main_pickle(state))
        for key, array in enumerate(state.values()):
            info = zipfile.ZipInfo(f"archive/data/{key}")
            if key == 0:
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, array.tobytes() + bytes(64 << 20))
            else:
                zf.writestr(info, array.tobytes())
    assert os.path.getsize(repo / "pytorch_model.bin") < (1 << 20)
    with pytest.raises(ConversionError, match="the file stores"):
        convert_hf(str(repo), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["rtd", "--model", "{encoder}", "今天天气很好"], "without ElectraDiscriminator's head"),
        (["fill-mask", "--model", "{encoder}", "今天[MASK]气很好"], "without ElectraGenerator's head"),
        (["fill-mask", "--model", "{discriminator}", "今天[MASK]气很好"], "--tower generator"),
        (["rtd", "--model", "{generator}", "今天天气很好"], "--tower discriminator"),
        (["correct", "--model", "{encoder}", "今天天汽很好"], "'s head"),
    ],
)
def test_a_pipeline_on_the_wrong_tower_is_refused(tiny, capsys, argv, needle):
    paths = {k: str(tiny / k) for k in ("encoder", "discriminator", "generator")}
    assert main([a.format(**paths) for a in argv]) == 2
    _one_error_line(capsys, needle)


def test_python_pipelines_refuse_a_missing_head_and_name_what_the_directory_holds(tiny):
    encoder = str(tiny / "encoder")
    for load, needle in (
        (lambda: ReplacedTokenDetection.from_pretrained(encoder), "holds an ElectraModel without"),
        (lambda: FillMask.from_pretrained(encoder), "generator_predictions"),
        (lambda: SpellingCorrector.from_pretrained(encoder), "'s head"),
        (
            lambda: ElectraGenerator.from_pretrained(str(tiny / "discriminator")),
            "ElectraDiscriminator without",
        ),
    ):
        with pytest.raises(LoadError, match=needle):
            load()
    ElectraModel.from_pretrained(str(tiny / "discriminator"))  # an encoder is in every tower: fine


@pytest.mark.parametrize(
    "head,needle",
    [
        ("ElectraForSequenceClassification", "classifier"),
        ("ElectraForTokenClassification", "classifier"),
        ("ElectraForQuestionAnswering", "start_logits"),
        ("ElectraForTextMatching", "classifier"),
        ("ElectraForMultipleChoice", "classifier"),
    ],
)
def test_a_new_head_is_allowed_when_asked_and_said_in_one_info_line(tiny, caplog, head, needle):
    import paddle_electra

    cls = getattr(paddle_electra, head)
    labels = {} if head == "ElectraForQuestionAnswering" else {"num_labels": 3}
    with caplog.at_level("INFO", logger="paddle_electra"):
        cls.from_pretrained(str(tiny / "encoder"), new_head=True, **labels)
    lines = [r.getMessage() for r in caplog.records if "new task head" in r.getMessage()]
    assert len(lines) == 1 and head in lines[0] and needle in lines[0], lines
    with pytest.raises(LoadError, match=f"without {head}'s head .*paddle-electra finetune"):
        cls.from_pretrained(str(tiny / "encoder"), **labels)


def test_missing_encoder_weights_are_refused_even_for_a_new_head(tiny, tmp_path):
    from safetensors.numpy import load_file, save_file

    model_dir = shutil.copytree(tiny / "encoder", tmp_path / "encoder")
    state = load_file(str(model_dir / "model.safetensors"))
    del state["encoder.layers.0.linear1.weight"]
    save_file(state, str(model_dir / "model.safetensors"), metadata={"format": "np"})
    with pytest.raises(LoadError, match="lacks 1 encoder weight"):
        ElectraDiscriminator.from_pretrained(str(model_dir), new_head=True)


def test_predict_refuses_a_fine_tuned_directory_without_its_head(tiny, tmp_path, capsys):
    """evaluate / predict never predict from a randomly initialized head: a fine-tuned classifier's
    directory whose weights lack the classifier (here: the encoder's weights under its config)."""
    out = _copy_with_config(
        tiny / "encoder",
        tmp_path / "finetuned",
        architectures=["ElectraForSequenceClassification"],
        task="text-classification",
        id2label={"0": "neg", "1": "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    data = tmp_path / "test.csv"
    data.write_text("text,label\n今天天气很好,pos\n", encoding="utf-8")
    assert main(["predict", "--model", out, "--data-file", str(data)]) == 2
    _one_error_line(capsys, "without ElectraForSequenceClassification's head (classifier)")
    assert main(["evaluate", "--model", out, "--data-file", str(data)]) == 2
    _one_error_line(capsys, "without ElectraForSequenceClassification's head")


# --- 4. files as users have them: long fields, other encodings ------------------------------------


def test_a_csv_field_longer_than_csvs_default_limit_is_read(tmp_path):
    import csv

    from paddle_electra.tasks.readers import read_table

    text = "这家酒店很好" * 40_000  # 240,000 characters: csv's default field limit is 131,072
    path = tmp_path / "long.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label"], [text, "1"], ["短", "0"]])
    examples = read_table(str(path))
    assert [e.text_a for e in examples] == [text, "短"] and [e.label for e in examples] == ["1", "0"]


GB_TEXT = "这家店的菜太咸了，服务也一般"


@pytest.mark.parametrize(
    "kind,name,content",
    [
        ("text-classification", "train.csv", f"text,label\n{GB_TEXT},负面\n很好,正面\n"),
        ("text-classification", "train.tsv", f"text\tlabel\n{GB_TEXT}\t负面\n很好\t正面\n"),
        (
            "text-classification",
            "train.jsonl",
            json.dumps({"text": GB_TEXT, "label": "负面"}, ensure_ascii=False)
            + "\n"
            + json.dumps({"text": "很好", "label": "正面"}, ensure_ascii=False)
            + "\n",
        ),
        (
            "token-classification",
            "train.txt",
            "".join(f"{c} O\n" for c in GB_TEXT) + "\n北 B-LOC\n京 I-LOC\n",
        ),
        (
            "question-answering",
            "train.json",
            json.dumps(
                {
                    "data": [
                        {
                            "paragraphs": [
                                {
                                    "context": GB_TEXT,
                                    "qas": [
                                        {
                                            "id": "1",
                                            "question": "菜怎么样？",
                                            "answers": [{"text": "太咸了", "answer_start": 5}],
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                },
                ensure_ascii=False,
            ),
        ),
    ],
)
def test_a_gb18030_file_reads_with_encoding_and_otherwise_names_the_option(tmp_path, kind, name, content):
    from paddle_electra.tasks import DataError, get_task

    path = tmp_path / name
    path.write_bytes(content.encode("gb18030"))
    with pytest.raises(DataError, match="not utf-8 text .*--encoding gb18030"):
        get_task(kind).read_train(str(path))
    task = get_task(kind)
    task.encoding = "gb18030"
    examples = task.read_train(str(path))
    first = examples[0]
    assert GB_TEXT in (getattr(first, "text_a", None) or getattr(first, "text", None) or first.context)


def test_a_utf8_bom_is_accepted_and_an_unknown_encoding_is_one_line(tmp_path, capsys):
    from paddle_electra.tasks import DataError, get_task

    path = tmp_path / "train.csv"
    path.write_bytes(f"text,label\n{GB_TEXT},负面\n很好,正面\n".encode("utf-8-sig"))
    assert get_task("text-classification").read_train(str(path))[0].text_a == GB_TEXT
    task = get_task("text-classification")
    task.encoding = "no-such-codec"
    with pytest.raises(DataError, match="unknown encoding 'no-such-codec'"):
        task.read_train(str(path))


def test_finetune_and_predict_take_encoding_on_the_command_line(tiny, tmp_path, capsys, monkeypatch):
    """The whole path: a GBK training CSV fine-tunes with --encoding gb18030, and predict reads a GBK
    file and GBK standard input; without the option, one line names it."""
    import io

    train = tmp_path / "train.csv"
    train.write_bytes(f"text,label\n{GB_TEXT},负面\n服务很好,正面\n".encode("gb18030"))
    out = tmp_path / "model"
    base = [
        "finetune",
        "--task",
        "text-classification",
        "--model",
        str(tiny / "discriminator"),
        "--train-file",
    ]
    assert main(base + [str(train), "--output", str(out), "--max-steps", "1"]) == 2
    _one_error_line(capsys, "not utf-8 text", "--encoding gb18030")
    assert main(base + [str(train), "--output", str(out), "--max-steps", "1", "--encoding", "gb18030"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--data-file", str(train), "--encoding", "gb18030"]) == 0
    printed = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]  # not paddle2onnx's
    assert [json.loads(line)["text"] for line in printed] == [GB_TEXT, "服务很好"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(f"{GB_TEXT}\n".encode("gb18030"))))
    assert main(["predict", "--model", str(out), "--encoding", "gb18030"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [json.loads(line)["text"] for line in printed] == [GB_TEXT]


def test_a_pretraining_corpus_takes_its_encoding(tiny, tmp_path):
    from paddle_electra import ElectraTokenizer
    from paddle_electra.tasks import DataError
    from paddle_electra.training.corpus import tokenize_corpus

    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(f"{GB_TEXT}\n今天天气很好\n".encode("gb18030"))
    tokenizer = ElectraTokenizer.from_pretrained(str(tiny / "discriminator"))
    with pytest.raises(DataError, match="--encoding gb18030"):
        tokenize_corpus([str(corpus)], tokenizer, str(tmp_path / "c1"), progress=False)
    meta = tokenize_corpus([str(corpus)], tokenizer, str(tmp_path / "c2"), progress=False, encoding="gb18030")
    expected = sum(len(ids) - 2 for ids in tokenizer.encode_batch([GB_TEXT, "今天天气很好"])["input_ids"])
    assert meta["tokens"] == expected


def test_a_checkpoint_missing_one_variable_names_it(tiny, tmp_path, capsys):
    """The architecture agrees but one tensor is absent: the converter's own check names it."""
    state = hf_state_dict(str(tiny / "discriminator"), "discriminator")
    missing = next(k for k in state if k.endswith("layer.0.attention.self.query.bias"))
    del state[missing]
    files = repo_files(state, "discriminator", {"architectures": ["ElectraForPreTraining"]}, False)
    repo = tmp_path / "hf"
    repo.mkdir()
    for name, data in files.items():
        (repo / name).write_bytes(data)
    assert main(["convert", "hf", str(repo), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "lacks 1 variable", missing)
    assert not (tmp_path / "out").exists()
