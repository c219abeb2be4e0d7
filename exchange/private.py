"""Files holding applicants' data on this node's disk — uploaded materials and received attachments (the blob
store), messages waiting in a local mailbox, quarantined messages — belong to the platform's account alone: files
0600 in folders 0700. The modes are set explicitly: the process umask can only take bits away, and the usual 022
left every document world-readable (issue 12, finding 12)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700

log = logging.getLogger(__name__)


def private_dir(path: Path) -> Path:
    """The folder, made if missing (missing parents get the default mode: they hold no documents themselves),
    and set to 0700 — also when an older version made it 0755."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        os.chmod(path, DIR_MODE)
    except PermissionError:  # a folder provisioned by another account: keep working, tell the operator
        log.warning("cannot make %s private (mode 0700): not its owner", path)
    return path


def write_private(path: Path, data: bytes, sync: bool = False) -> None:
    """Write `data` to `path` as a 0600 file (an existing file is truncated and set to 0600 too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, FILE_MODE)  # O_CREAT leaves an existing file's mode as it was
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fd)


def make_private(path: Path) -> None:
    """Set a file to 0600, or a folder to 0700 and the files in it to 0600 (what was moved in, e.g. into the
    quarantine, keeps the mode it was written with)."""
    path = Path(path)
    if path.is_dir():
        os.chmod(path, DIR_MODE)
        for child in path.iterdir():
            make_private(child)
    elif path.is_file():
        os.chmod(path, FILE_MODE)
