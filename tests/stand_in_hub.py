"""A local stand-in for the Hugging Face Hub's file API (test helper), and tiny ELECTRA repos to serve.

`StandInHub(repos)` serves on 127.0.0.1 (an ephemeral port) what huggingface_hub asks for:

- `GET /api/models/{repo}/revision/{rev}` -> JSON `id`, `sha`, `siblings: [{"rfilename": ...}]`
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}` -> `X-Repo-Commit` (40 hex), a quoted `ETag` (sha256 for
  weights, as the Hub gives for LFS files; the git blob sha1 for small files), `Content-Length`, and
  `Range: bytes=N-` answered with 206 (huggingface_hub resumes partial downloads that way)
- 404 with `X-Error-Code: RepoNotFound`, `RevisionNotFound` or `EntryNotFound`

`faults[(repo, file)]` breaks the next transfer of a file (`sticky_faults`: every transfer):
"truncate" sends half the body and closes the connection, "stall" sends half and then waits until
`release()` (`stalled` is set once it waits), and "corrupt" sends the right number of wrong bytes.
`ranges` logs (path, Range header) of every resumed transfer. `requests` logs (method, path) of
every request. The server runs in a daemon thread, stops after `lifetime` seconds at the latest,
and is stopped by `stop()` (or `with`).

`tiny_repos()` turns the in-repo TF fixture (tests/fixtures/tf_tiny) into two Hub repos in HF's
format: the discriminator (ElectraForPreTraining) as a zip-format pytorch_model.bin and the generator
(ElectraForMaskedLM) as a legacy-format one, written without torch by torch_pickle_writer.
"""

import hashlib
import json
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from torch_pickle_writer import save_state_dict

TINY_NAME = "test-electra-tiny"
TINY_HUB = "test-org/electra-tiny"  # repos test-org/electra-tiny-{discriminator,generator}
TF_TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tf_tiny")
LFS_SUFFIXES = (".bin", ".safetensors")


def tiny_entry(name=TINY_NAME, hub=TINY_HUB):
    """The zoo entry of the fixture model (tests register it with paddle_electra.sources.zoo.register)."""
    from paddle_electra.sources.zoo import Tower, ZooModel

    return ZooModel(
        name,
        "test",
        24,
        Tower(32, 64, 2, 2),
        Tower(16, 32, 2, 1),
        588,
        True,
        "electra_tiny.zip",
        hub=hub,
        max_position_embeddings=64,
    )


def register_tiny():
    from paddle_electra.sources.zoo import register

    return register(tiny_entry())


def etag(name, data):
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class StandInHub:
    def __init__(self, repos, lifetime=900):
        self.repos = {repo: dict(files) for repo, files in repos.items()}
        self.faults, self.sticky_faults, self.requests = {}, {}, []
        self.ranges = []
        self._released, self.stalled = threading.Event(), threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._answer(self, body=False)

            def do_GET(self):
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def commit(self, repo):
        digest = hashlib.sha1(repo.encode())
        for name in sorted(self.repos[repo]):
            digest.update(name.encode() + hashlib.sha1(self.repos[repo][name]).digest())
        return digest.hexdigest()

    def release(self):
        self._released.set()

    def stop(self):
        self.release()
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def _error(handler, code, error_code, message, body, headers=()):
        payload = json.dumps({"error": message}).encode()
        handler.send_response(code)
        handler.send_header("X-Error-Code", error_code)
        handler.send_header("X-Error-Message", message)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if body:
            handler.wfile.write(payload)

    def _revision(self, handler, repo, revision, body):
        if repo not in self.repos:
            self._error(handler, 404, "RepoNotFound", f"Repository {repo} not found", body)
            return None
        if revision not in ("main", self.commit(repo)):
            self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
            return None
        return self.commit(repo)

    def _answer(self, handler, body):
        path = unquote(urlparse(handler.path).path)
        self.requests.append((handler.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo = "/".join(parts[2:4])
            commit = self._revision(handler, repo, parts[5], body)
            if commit:
                info = {
                    "id": repo,
                    "modelId": repo,
                    "sha": commit,
                    "private": False,
                    "siblings": [{"rfilename": name} for name in sorted(self.repos[repo])],
                }
                self._send(handler, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            commit = self._revision(handler, repo, parts[3], body)
            if not commit:
                return
            if name not in self.repos[repo]:
                self._error(
                    handler, 404, "EntryNotFound", f"{name} does not exist", body, [("X-Repo-Commit", commit)]
                )
                return
            self._send_file(handler, repo, name, commit, body)
        else:
            self._error(handler, 404, "RepoNotFound", f"no route {path}", body)

    def _send(self, handler, data, headers, body, status=200):
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def _send_file(self, handler, repo, name, commit, body):
        data = self.repos[repo][name]
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag(name, data)}"', "Accept-Ranges": "bytes"}
        start, status = 0, 200
        requested = handler.headers.get("Range", "")
        if requested.startswith("bytes=") and body:
            self.ranges.append((urlparse(handler.path).path, requested))
            start, status = int(requested[len("bytes=") :].split("-")[0]), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        part = data[start:]
        fault = (
            (self.sticky_faults.get((repo, name)) or self.faults.pop((repo, name), None)) if body else None
        )
        if fault == "corrupt":
            part = bytes(b ^ 0xFF for b in part)
        if fault not in ("truncate", "stall"):
            self._send(handler, part, headers, body, status)
            return
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(part)))
        handler.end_headers()
        handler.wfile.write(part[: len(part) // 2])
        handler.wfile.flush()
        if fault == "stall":
            self.stalled.set()
            self._released.wait()
        handler.close_connection = True


# ---- tiny ELECTRA repos in HF's format, from the TF fixture ----------------------------------------
def hf_state_dict(model_dir, tower):
    """{HF name: array} of a converted paddle-electra tower, as HF transformers saves it."""
    from safetensors.numpy import load_file

    from paddle_electra import ElectraConfig
    from paddle_electra_convert.names import tower_params

    config = ElectraConfig.from_pretrained(model_dir)
    ours = load_file(os.path.join(model_dir, "model.safetensors"))
    state = {}
    for p in tower_params(config, tower):
        array = ours[p.ours]
        state[("electra." + p.hf) if p.in_encoder else p.hf] = array.T if p.hf_transposed else array
    if tower == "generator":  # HF keeps the tied output embeddings as a key of their own
        state["generator_lm_head.weight"] = state["electra.embeddings.word_embeddings.weight"]
    return state


def hf_repo_files(model_dir, tower, legacy, config_from=None):
    """The files of a HF ELECTRA repo holding the converted tower in `model_dir`; `config_from`:
    the tower whose config.json to ship instead (HFL once uploaded a generator with its
    discriminator's config)."""
    architecture = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}[tower]
    return repo_files(
        hf_state_dict(model_dir, tower), config_from or tower, {"architectures": [architecture]}, legacy
    )


def repo_files(state, config_tower, config_extra, legacy):
    """A HF repo: config.json (the TF fixture's `config_tower` json + `config_extra`), the `state`
    dict as pytorch_model.bin (zip or `legacy` format), vocab and tokenizer files."""
    with open(os.path.join(TF_TINY, "release", f"{config_tower}.json"), encoding="utf-8") as f:
        config = {"model_type": "electra", **json.load(f), "layer_norm_eps": 1e-12, **config_extra}
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "pytorch_model.bin")
        save_state_dict(state, weights, legacy=legacy)
        with open(weights, "rb") as f:
            data = f.read()
    with open(os.path.join(TF_TINY, "release", "vocab.txt"), "rb") as f:
        vocab = f.read()
    return {
        "config.json": json.dumps(config, indent=2).encode(),
        "pytorch_model.bin": data,
        "vocab.txt": vocab,
        "tokenizer_config.json": json.dumps({"do_lower_case": True, "model_max_length": 64}).encode(),
        "special_tokens_map.json": json.dumps(
            {
                t: f"[{t[:-6].upper()}]"
                for t in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
            }
        ).encode(),
        "README.md": b"tiny ELECTRA made from paddle-electra's test fixture\n",
    }


def tiny_repos(converted_dir, hub=TINY_HUB):
    """Repos `{hub}-discriminator` (zip-format bin) and `{hub}-generator` (legacy-format bin) made
    from the converted TF fixture in `converted_dir` (with discriminator/ and generator/)."""
    return {
        f"{hub}-discriminator": hf_repo_files(
            os.path.join(converted_dir, "discriminator"), "discriminator", legacy=False
        ),
        f"{hub}-generator": hf_repo_files(os.path.join(converted_dir, "generator"), "generator", legacy=True),
    }
