"""fetch.pypi_file against a stand-in package index on localhost: the file of the project's simple
page, checked against its pinned sha256; a wrong file or no index is a one-line FetchError."""

import functools
import hashlib
import http.server
import threading

import pytest

from paddle_electra.sources.fetch import FetchError, pypi_file

PAYLOAD = b"a release file\n" * 100


@pytest.fixture
def index(tmp_path, monkeypatch):
    root = tmp_path / "index"
    (root / "simple" / "demo").mkdir(parents=True)
    (root / "files").mkdir()
    (root / "files" / "demo-1.0.tar.gz").write_bytes(PAYLOAD)
    (root / "simple" / "demo" / "index.html").write_text(
        '<html><body><a href="../../files/demo-1.0.tar.gz#sha256=x">demo-1.0.tar.gz</a></body></html>'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    yield server
    server.shutdown()


def test_downloads_the_pinned_file(index, tmp_path):
    path = pypi_file("demo", "demo-1.0.tar.gz", hashlib.sha256(PAYLOAD).hexdigest(), str(tmp_path))
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD


def test_a_file_with_another_hash_is_refused_and_removed(index, tmp_path):
    with pytest.raises(FetchError, match="not the pinned"):
        pypi_file("demo", "demo-1.0.tar.gz", "0" * 64, str(tmp_path))
    assert not (tmp_path / "demo-1.0.tar.gz").exists()


def test_a_missing_file_or_index_is_one_line(index, tmp_path, monkeypatch):
    with pytest.raises(FetchError, match="lists no demo-2.0.tar.gz"):
        pypi_file("demo", "demo-2.0.tar.gz", "0" * 64, str(tmp_path))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    with pytest.raises(FetchError, match="cannot download") as error:
        pypi_file("demo", "demo-1.0.tar.gz", "0" * 64, str(tmp_path))
    assert "\n" not in str(error.value)
