"""The one cache directory: $PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra. It holds fetched
assets (LTP-tiny, the SIGHAN-15 pairs), the static exports that the predictors make once per model, and
the fused training kernels compiled for this machine (kernels/).

Everything enters the cache through `staged(final)`: the block writes into a private `.NAME.partial-*`
folder beside `final`, which is renamed into place only when the block succeeds. Two processes that
fill the same entry at once both succeed: the first rename wins and the other's copy is discarded.

The cache stays bounded: `paddle-electra cache list` shows every entry with its size and when it
was last used, `paddle-electra cache prune` removes by age or down to a size (least recently used
first), and the static exports are capped (PADDLE_ELECTRA_EXPORT_CACHE_MAX, default 4 GiB): each
new export evicts the least recently used others beyond the cap.
"""
import contextlib
import os
import re
import shutil
import tempfile
import time


def cache_dir():
    return os.environ.get("PADDLE_ELECTRA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle-electra")


def publish(tmp_dir, final_dir):
    """Rename the finished `tmp_dir` to `final_dir`; if another process published it first, keep
    theirs and remove `tmp_dir`. Returns `final_dir`."""
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if not os.path.isdir(final_dir):
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


@contextlib.contextmanager
def staged(final_dir):
    """Yield a temporary folder beside `final_dir`; on success it is published as `final_dir`
    (see `publish`), on any error it is removed and `final_dir` is left as it was."""
    parent = os.path.dirname(os.path.abspath(final_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.partial-", dir=parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, final_dir)


# ---------------------------------------------------------------- size, age, eviction

DEFAULT_EXPORT_CACHE_MAX = 4 << 30  # bytes of static exports kept; PADDLE_ELECTRA_EXPORT_CACHE_MAX overrides


def _size(path):
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def touch(path):
    """Mark a cache entry as used now (its modification time), for least-recently-used eviction."""
    try:
        os.utime(path)
    except OSError:
        pass


def entries(root=None):
    """Every entry under the cache directory, whatever put it there: a top-level folder that holds
    only folders (static/, kernels/, ...) is a group whose subfolders are the entries; any other
    top-level item (but an empty folder) is an entry itself. Returns [{"path", "size" (bytes), "used" (mtime), "group"}],
    least recently used first. Leftover `.NAME.partial-*` folders are entries too."""
    root = root or cache_dir()
    found = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        top = os.path.join(root, name)
        children = [os.path.join(top, c) for c in sorted(os.listdir(top))] if os.path.isdir(top) and not os.path.islink(top) else []
        if os.path.isdir(top) and not os.path.islink(top) and not children:
            continue  # an empty folder (a group whose entries are all gone)
        grouped = children and all(os.path.isdir(c) and not os.path.islink(c) for c in children)
        for path in children if grouped else [top]:
            try:
                found.append({"path": path, "size": _size(path), "used": os.lstat(path).st_mtime, "group": name if grouped else ""})
            except OSError:  # removed meanwhile
                pass
    return sorted(found, key=lambda e: e["used"])


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def prune(max_bytes=None, older_than=None, group=None, keep=(), root=None, dry_run=False):
    """Remove cache entries (of `group` only, if given) unused for more than `older_than` seconds,
    then the least recently used ones until the rest take at most `max_bytes`; never those in
    `keep`, and never by size a folder being written (a `.NAME.partial-*` one, removed only by
    age). Returns the removed entries."""
    now = time.time()
    candidates = [e for e in entries(root) if group is None or e["group"] == group]
    removed = [e for e in candidates if older_than is not None and now - e["used"] > older_than and e["path"] not in keep]
    total = sum(e["size"] for e in candidates if e not in removed)
    for entry in candidates:  # least recently used first
        if max_bytes is None or total <= max_bytes:
            break
        if entry not in removed and entry["path"] not in keep and not os.path.basename(entry["path"]).startswith("."):
            removed.append(entry)
            total -= entry["size"]
    if not dry_run:
        for entry in removed:
            remove(entry["path"])
    return removed


def export_cache_max():
    """The size cap of the static exports in bytes (PADDLE_ELECTRA_EXPORT_CACHE_MAX, e.g. 2G; 0: no cap)."""
    value = os.environ.get("PADDLE_ELECTRA_EXPORT_CACHE_MAX")
    return DEFAULT_EXPORT_CACHE_MAX if not value else parse_size(value)


def parse_size(text):
    """'500M', '2G', '1.5GB', '4096' -> bytes; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 500M, 2G)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))


def parse_age(text):
    """'30d', '12h', '90m', '3600s' (or plain seconds) -> seconds; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not an age: {text!r} (e.g. 30d, 12h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2).lower()]


def human_size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def human_age(seconds):
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f}{unit}"
    return f"{seconds:.0f}s"
