"""The one cache directory: $PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra. It holds fetched
assets (LTP-tiny, the SIGHAN-15 pairs), the static exports that the predictors make once per model, and
the fused training kernels compiled for this machine (kernels/).

Everything enters the cache, and every output directory (`convert --out`, `export --out`) is
written, through `staged(final)`: the block writes into a private `.NAME.partial-PID-*` folder
beside `final`, which is renamed into place only when the block succeeds (with the permissions the
umask gives, not mkdtemp's 0700 or mkstemp's 0600). Two processes that fill the same cache entry at once both
succeed: the first rename wins and the other's copy is discarded. Partial folders of processes
that no longer run (killed, interrupted) are removed by the next `staged` of the same name.

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

from paddle_electra.utils.errors import PaddleElectraError

STALE_UNOWNED_S = 3600  # partial folders without a PID in their name: removed after an hour


class OutputError(PaddleElectraError, ValueError):
    """An output directory that cannot be written as asked; the message names the fix."""


def cache_dir():
    return os.environ.get("PADDLE_ELECTRA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "paddle-electra"
    )


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


def _nonempty(path):
    return os.path.isdir(path) and bool(os.listdir(path))


def _replace(tmp_dir, final_dir):
    """Put `tmp_dir` in the place of `final_dir`, which may exist: the old one is renamed aside
    first and removed after, so `final_dir` is never missing parts."""
    old = None
    if os.path.lexists(final_dir):
        old = tempfile.mkdtemp(
            prefix=f".{os.path.basename(final_dir)}.old-{os.getpid()}-", dir=os.path.dirname(final_dir)
        )
        os.rename(final_dir, os.path.join(old, "d"))
    os.rename(tmp_dir, final_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_partials(parent, name):
    """Remove the `.NAME.partial-*` / `.NAME.old-*` folders in `parent` whose process is gone."""
    for entry in os.listdir(parent):
        for kind in (".partial-", ".old-"):
            prefix = f".{name}{kind}"
            if not entry.startswith(prefix):
                continue
            path = os.path.join(parent, entry)
            pid = entry[len(prefix) :].split("-")[0]
            try:
                gone = (
                    not _alive(int(pid))
                    if pid.isdigit() and "-" in entry[len(prefix) :]
                    else (time.time() - os.lstat(path).st_mtime > STALE_UNOWNED_S)
                )
            except OSError:
                continue
            if gone:
                shutil.rmtree(path, ignore_errors=True)


def _umask():
    try:  # Linux: read it, since setting it to read it back races with other threads
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _normal_modes(directory):
    """Give `directory` and everything in it the modes the umask gives new files (libraries write
    some through mkstemp, 0600); executables stay executable."""
    mask = _umask()
    for root, dirs, files in os.walk(directory):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, (0o777 if os.stat(path).st_mode & 0o111 else 0o666) & ~mask)


def _check_target(final_dir, protect):
    if os.path.lexists(final_dir) and not os.path.isdir(final_dir):
        raise OutputError(f"{final_dir} exists and is not a directory: choose another output directory")
    for source in protect:
        source = os.path.realpath(source)
        if source == final_dir or source.startswith(final_dir.rstrip(os.sep) + os.sep):
            raise OutputError(
                f"the output directory {final_dir} holds the input {source}: choose another output directory"
            )


@contextlib.contextmanager
def staged(final_dir, exists="keep", protect=(), hint="choose another output directory"):
    """Yield a temporary folder beside `final_dir` (a symlink is followed, a dangling one to where
    it points); on success it becomes `final_dir`, on any error it is removed and `final_dir` is
    left as it was. `exists`, for a non-empty `final_dir` (already there, or made meanwhile by
    another process):

    - "keep" (cache entries): the first writer wins, the other's copy is discarded (`publish`);
    - "error" (outputs): OutputError, before the block runs or after it if one appeared meanwhile;
    - "replace" (`--overwrite`): the new folder takes its place.

    `protect`: input paths that must not be, or be inside, `final_dir` (OutputError). Bad output
    paths (a file, a read-only parent) raise OutputError with the fix (`hint`)."""
    final_dir = os.path.realpath(final_dir)
    _check_target(final_dir, protect)
    if exists == "error" and _nonempty(final_dir):
        raise OutputError(f"{final_dir} already exists and is not empty: {hint}")
    parent, name = os.path.split(final_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        remove_stale_partials(parent, name)
        tmp = tempfile.mkdtemp(prefix=f".{name}.partial-{os.getpid()}-", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot write into {parent} ({e.strerror}): {hint}") from None
    try:
        yield tmp
        _normal_modes(tmp)
        if exists == "keep":
            publish(tmp, final_dir)
            return
        _check_target(final_dir, protect)
        if exists == "replace":
            _replace(tmp, final_dir)
            return
        try:
            os.rename(tmp, final_dir)  # onto nothing or an empty folder; fails onto a non-empty one
        except OSError:
            if _nonempty(final_dir):
                raise OutputError(f"{final_dir} was written by another process meanwhile: {hint}") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    top-level item (but an empty folder) is an entry itself. Returns
    [{"path", "size" (bytes), "used" (mtime), "group"}], least recently used first. Leftover
    `.NAME.partial-*` folders are entries too."""
    root = root or cache_dir()
    found = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        top = os.path.join(root, name)
        children = (
            [os.path.join(top, c) for c in sorted(os.listdir(top))]
            if os.path.isdir(top) and not os.path.islink(top)
            else []
        )
        if os.path.isdir(top) and not os.path.islink(top) and not children:
            continue  # an empty folder (a group whose entries are all gone)
        grouped = children and all(os.path.isdir(c) and not os.path.islink(c) for c in children)
        for path in children if grouped else [top]:
            try:
                found.append(
                    {
                        "path": path,
                        "size": _size(path),
                        "used": os.lstat(path).st_mtime,
                        "group": name if grouped else "",
                    }
                )
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
    removed = [
        e
        for e in candidates
        if older_than is not None and now - e["used"] > older_than and e["path"] not in keep
    ]
    total = sum(e["size"] for e in candidates if e not in removed)
    for entry in candidates:  # least recently used first
        if max_bytes is None or total <= max_bytes:
            break
        if (
            entry not in removed
            and entry["path"] not in keep
            and not os.path.basename(entry["path"]).startswith(".")
        ):
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
