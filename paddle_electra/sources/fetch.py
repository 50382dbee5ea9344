"""The one module that touches the network: everything paddle-electra downloads comes through here.

- `pypi_file(project, filename, sha256, dest)`: one release file of a project from the package
  index that pip uses (PIP_INDEX_URL, else pip's default index), checked against a pinned sha256.
  It is only downloaded: nothing is built, installed or run.
- `pip_download(requirement, filename, sha256, dest)`: the same for large files, through pip
  itself, so that pip's download cache and configuration (index, proxy, certificates) apply.
- `hf_hub_model_files(repo_id)`: a model repo's files from the Hugging Face Hub (or the mirror named
  by `HF_ENDPOINT`), with `huggingface_hub` into its own cache (`HF_HOME`, `HF_HUB_CACHE`).
  `HF_TOKEN` is sent for private repos; with `HF_HUB_OFFLINE=1` only that cache is read.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, when it is imported, so a
program that sets them later would be ignored. They are read here from os.environ at every call
and passed to huggingface_hub explicitly.

Every file from the Hub is checked against the ETag the Hub gave for it (the sha256 of an LFS file,
the git blob sha1 of a small one; huggingface_hub names the cached blob after it). A damaged blob
(a truncated file, a disk that filled up) is removed and downloaded once more; a download that was
killed midway resumes from huggingface_hub's `.incomplete` file.
"""

import contextlib
import hashlib
import html
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

from paddle_electra.utils.errors import PaddleElectraError

logger = logging.getLogger(__name__)


class FetchError(PaddleElectraError, RuntimeError):
    """Something could not be downloaded; the message says what was tried and what to do."""


def package_index():
    """The simple index pip downloads from: $PIP_INDEX_URL, else pip's default."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    from pip._internal.models.index import PyPI

    return PyPI.simple_url.rstrip("/")


def pypi_file(project, filename, sha256, dest, timeout=60):
    """Download `filename`, a release file of `project`, from the package index's simple page of
    the project into the folder `dest`, and check its sha256. Returns the file's path."""
    page_url = f"{package_index()}/{project}/"
    path = os.path.join(dest, filename)
    try:
        with urllib.request.urlopen(page_url, timeout=timeout) as response:
            page = response.read().decode("utf-8", "replace")
        link = re.search(r'href="([^"#]*/%s)(?:#[^"]*)?"' % re.escape(filename), page)
        if link is None:
            raise FetchError(f"{page_url} lists no {filename}: set PIP_INDEX_URL to an index that has it")
        with urllib.request.urlopen(
            urllib.parse.urljoin(page_url, html.unescape(link.group(1))), timeout=timeout
        ) as response, open(path, "wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(
            f"cannot download {filename} from {page_url} ({e}): check the network, or set PIP_INDEX_URL "
            "(and https_proxy) to an index you can reach"
        ) from None
    _check_sha256(path, sha256, page_url)
    return path


def _check_sha256(path, sha256, source):
    found = _hash_file(path, hashlib.sha256())
    if found != sha256:
        os.remove(path)
        raise FetchError(
            f"{os.path.basename(path)} from {source} has sha256 {found}, not the pinned {sha256}: "
            "the index serves another file; use one that serves the original"
        )


def pip_download(requirement, filename, sha256, dest):
    """`pip download --no-deps requirement` into `dest` (nothing installed), which must give
    `filename` with the pinned `sha256`. Returns the file's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", dest, requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    path = os.path.join(dest, filename)
    if result.returncode != 0 or not os.path.isfile(path):
        raise FetchError(
            f"could not download {requirement} ({filename}) with pip "
            f"({result.stderr.strip()[-300:]}): check the "
            "network, or set PIP_INDEX_URL (and https_proxy) to an index you can reach"
        )
    _check_sha256(path, sha256, "pip")
    return path


# ---- the Hugging Face Hub ------------------------------------------------------------------------
DEFAULT_ENDPOINT = "https://huggingface.co"
CONFIG_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # the first one the repo has is fetched


class HubUnreachable(FetchError):
    """No answer from the Hub (or the mirror): the network, a proxy or HF_ENDPOINT is wrong."""


def endpoint():
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline():
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hf_home():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("HF_HOME") or os.path.join(cache, "huggingface")


def hf_cache_dir():
    return os.environ.get("HF_HUB_CACHE") or os.path.join(hf_home(), "hub")


def _token():
    token = os.environ.get("HF_TOKEN")
    path = os.path.join(hf_home(), "token")
    if not token and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    return token or None


def unreachable_message(url, error, alternative):
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    reason = errno.group(0) if errno else (text.splitlines()[0][:120] if text else type(error).__name__)
    where = (
        f"HF_ENDPOINT={os.environ['HF_ENDPOINT']}"
        if os.environ.get("HF_ENDPOINT")
        else "HF_ENDPOINT is unset"
    )
    return (
        f"cannot reach the Hugging Face Hub: {url} failed ({reason}); "
        f"{where}: set HF_ENDPOINT to a mirror you can reach "
        f"(e.g. https://hf-mirror.com){', ' + alternative if alternative else ''}"
    )


@contextlib.contextmanager
def _progress_bars(show):
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not show:
        disable_progress_bars()
    try:
        yield
    finally:
        if not show and not was_disabled:
            enable_progress_bars()


def hf_hub_model_files(repo_id, revision=None, progress=True, alternative=""):
    """Download a model repo's config, tokenizer files and weights (model.safetensors, else
    pytorch_model.bin) and return the local snapshot directory holding them.

    `alternative` ends the message of HubUnreachable (the manual way to get the model)."""
    import requests
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    revision = revision or "main"
    if offline():
        try:
            return snapshot_download(
                repo_id, revision=revision, cache_dir=hf_cache_dir(), local_files_only=True
            )
        except (LocalEntryNotFoundError, FileNotFoundError):
            raise FetchError(
                f"{repo_id} (revision {revision}) is not in the Hugging Face cache {hf_cache_dir()} and "
                "HF_HUB_OFFLINE=1: unset HF_HUB_OFFLINE, "
                "or run `paddle-electra download` where the Hub is reachable"
            ) from None
    url = f"{endpoint()}/api/models/{repo_id}/revision/{revision}"
    try:
        info = HfApi(endpoint=endpoint(), token=_token()).model_info(repo_id, revision=revision)
    except RevisionNotFoundError:
        raise FetchError(
            f"{repo_id} has no revision {revision!r} ({url}): pass a branch, tag or commit of that repo"
        ) from None
    except RepositoryNotFoundError:
        raise FetchError(
            f"no model repo {repo_id} at {endpoint()} ({url} answered 'not found'): check the name "
            "(`paddle-electra zoo` lists the models), or set HF_TOKEN for a private repo"
        ) from None
    except requests.RequestException as e:
        raise HubUnreachable(unreachable_message(url, e, alternative)) from None
    names = {s.rfilename for s in info.siblings or ()}
    weights = [w for w in WEIGHT_FILES if w in names][:1]
    if not weights or "config.json" not in names:
        raise FetchError(
            f"{repo_id} holds no config.json with {' or '.join(WEIGHT_FILES)} ({url}): "
            "it is not a transformers model repo"
        )
    with _progress_bars(progress):
        paths = [
            _download_checked(repo_id, name, info.sha, alternative)
            for name in [f for f in CONFIG_FILES if f in names] + weights
        ]
    _remember_revision(repo_id, revision, info.sha)
    return os.path.dirname(paths[0])


def _remember_revision(repo_id, revision, commit):
    """Record `revision` -> `commit` in the cache's refs/ (huggingface_hub's documented cache layout),
    as huggingface_hub does itself for named revisions: HF_HUB_OFFLINE=1 then finds the files by name."""
    from huggingface_hub.file_download import repo_folder_name

    if revision == commit:
        return
    path = os.path.join(
        hf_cache_dir(), repo_folder_name(repo_id=repo_id, repo_type="model"), "refs", *revision.split("/")
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(commit)


def _download_checked(repo_id, filename, commit, alternative):
    """hf_hub_download of one file at `commit`, checked against its ETag; a damaged copy is
    downloaded once more."""
    import requests
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

    url = hf_hub_url(repo_id, filename, revision=commit, endpoint=endpoint())
    problem = None
    for attempt in range(3):
        try:
            path = hf_hub_download(
                repo_id,
                filename,
                revision=commit,
                endpoint=endpoint(),
                cache_dir=hf_cache_dir(),
                token=_token(),
            )
        except LocalEntryNotFoundError as e:  # the HEAD request failed and nothing is cached
            raise HubUnreachable(unreachable_message(url, e.__cause__ or e, alternative)) from None
        except EntryNotFoundError:
            raise FetchError(f"{url} is not found although the repo lists it: retry later") from None
        except (requests.RequestException, OSError) as e:  # the transfer broke off, or had the wrong size
            problem = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            if attempt:  # the first retry resumes the partial file, the next one starts afresh
                _forget_incomplete(repo_id)
            continue
        problem = blob_problem(path)
        if problem is None:
            return path
        logger.warning(
            "%s of %s in the Hugging Face cache is damaged (%s): downloading it again",
            filename,
            repo_id,
            problem,
        )
        _remove_cached(path)
    raise FetchError(
        f"{url} could not be downloaded intact ({problem}): retry, or set HF_ENDPOINT to another mirror"
    )


def _git_blob_sha1(path):
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    return _hash_file(path, digest)


def _hash_file(path, digest):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def blob_problem(path):
    """None if the cached file equals the ETag its blob is named after (sha256 for LFS files, git
    blob sha1 otherwise), else what is wrong. Blobs named otherwise (no symlinks, unusual mirrors)
    are not checked."""
    blob = os.path.realpath(path)
    etag = os.path.basename(blob)
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        found = _hash_file(blob, hashlib.sha256())
    elif re.fullmatch(r"[0-9a-f]{40}", etag):
        found = _git_blob_sha1(blob)
    else:
        return None
    return (
        None
        if found == etag
        else f"{os.path.getsize(blob)} bytes whose hash is {found[:12]}…, not the ETag {etag[:12]}…"
    )


def _remove_cached(path):
    blob = os.path.realpath(path)
    for p in {path, blob}:
        with contextlib.suppress(FileNotFoundError):
            os.remove(p)


def _forget_incomplete(repo_id):
    """Remove the repo's partial blobs, so the next try starts each file afresh."""
    from huggingface_hub.file_download import repo_folder_name

    blobs = os.path.join(hf_cache_dir(), repo_folder_name(repo_id=repo_id, repo_type="model"), "blobs")
    for name in os.listdir(blobs) if os.path.isdir(blobs) else ():
        if name.endswith(".incomplete"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(blobs, name))
