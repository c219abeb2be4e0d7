"""Drafts of a clerk's unfinished work, held on the server so that nothing typed or chosen is lost when a form is
refused: the files chosen on a form (checked by content like every upload, so a bad file is refused alone and the
good ones stay) and the input of a failed action (the page that shows it again is a GET: post/redirect/get).

Each member of staff has a folder of their own under the draft root; every draft is a file 0600 under a generated
name (a random token, never the user's file name), its facts beside it as JSON. A token from a form is only ever
looked up in the folder of the user who posts it, so one clerk cannot reach another's draft. Drafts older than a
day are swept when the same user holds a new one."""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from delegation.uploads import _display_name, read_checked

TOKEN = re.compile(r"^[0-9a-f]{32}$")
MAX_AGE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class DraftFile:
    """A held file as a form shows it and as uploads.attach reads it (filename, mimetype, stream)."""

    token: str
    material_code: str
    filename: str
    mimetype: str
    size: int
    path: Path

    @property
    def stream(self):
        return io.BytesIO(self.path.read_bytes())


def _folder(root: Path, owner: int) -> Path:
    folder = Path(root) / str(int(owner))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _sweep(folder: Path) -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:  # another request of the same user swept it first
            pass


def hold_file(root: Path, owner: int, material_code: str, filename: str, claimed_type: str, stream,
              limit: int) -> DraftFile:
    """Check the file as an upload is checked (Invalid names no field: the caller knows which) and hold it."""
    data, actual = read_checked(stream, claimed_type, limit)
    folder = _folder(root, owner)
    _sweep(folder)
    token = secrets.token_hex(16)
    _write(folder / token, data)
    meta = {"material_code": material_code, "filename": _display_name(filename), "mimetype": actual,
            "size": len(data)}
    _write(folder / f"{token}.json", json.dumps(meta).encode())
    return DraftFile(token, material_code, meta["filename"], actual, len(data), folder / token)


def held_file(root: Path, owner: int, token: str) -> DraftFile | None:
    """The user's held file under this token; None for a token that is malformed, another's or gone."""
    if not TOKEN.match(token or ""):
        return None
    folder = _folder(root, owner)
    try:
        meta = json.loads((folder / f"{token}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not (folder / token).is_file():
        return None
    return DraftFile(token, meta["material_code"], meta["filename"], meta["mimetype"], meta["size"], folder / token)


def stash(root: Path, owner: int, content: dict) -> str:
    """Hold a failed form's input and errors; the token to take it back with."""
    folder = _folder(root, owner)
    _sweep(folder)
    token = secrets.token_hex(16)
    _write(folder / f"{token}.form", json.dumps(content, ensure_ascii=False).encode())
    return token


def take(root: Path, owner: int, token: str | None, keep: bool = False) -> dict | None:
    """The stashed input under this token, removed as it is taken (a reload shows the clean page) unless `keep`:
    a page whose address names the token shows the same input on every reload (the intake form)."""
    if not TOKEN.match(token or ""):
        return None
    path = _folder(root, owner) / f"{token}.form"
    try:
        content = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not keep:
        path.unlink(missing_ok=True)
    return content


def discard(root: Path, owner: int, tokens) -> None:
    folder = _folder(root, owner)
    for token in tokens:
        if TOKEN.match(token or ""):
            (folder / token).unlink(missing_ok=True)
            (folder / f"{token}.json").unlink(missing_ok=True)
