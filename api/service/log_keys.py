"""The service's Ed25519 signer key (C2SP signer key file): created on first start with mode 0600 in the data
folder, or read from the file `KAOHE_LOG_KEY_FILE` names, so several servers on one PostgreSQL share it."""

from __future__ import annotations

import os
from pathlib import Path

from domain.signed_note import Signer

KEY_FILE = "kaohe-log.key"
DEFAULT_NAME = "kaohe"  # the key's name, also the prefix of every year's origin (<name>/<year>)


def key_path(env: dict[str, str]) -> Path:
    """`KAOHE_LOG_KEY_FILE`, else beside the SQLite file, else ./var (PostgreSQL)."""
    named = os.environ.get("KAOHE_LOG_KEY_FILE")
    if named:
        return Path(named)
    sqlite = env.get("SQLITE_DBNAME") or ""
    if env.get("PERSISTENCE_MODULE", "").endswith("sqlite") and sqlite and sqlite != ":memory:":
        return Path(sqlite).resolve().parent / KEY_FILE
    return Path("var") / KEY_FILE


def load_signer(env: dict[str, str], *, create: bool = True) -> Signer | None:
    """The signer in the key file; a new key is written there first if there is none (and `create`)."""
    path = key_path(env)
    if path.exists() or not create:
        return read_signer(path) if path.exists() else None
    name = os.environ.get("KAOHE_LOG_ORIGIN") or DEFAULT_NAME
    write_key_file(path, Signer.generate(name))
    return read_signer(path)  # another process may have won the race: its key is the one


def read_signer(path: Path) -> Signer:
    return Signer(path.read_text(encoding="ascii").strip())


def write_key_file(path: Path, signer: Signer) -> bool:
    """Write `signer` to `path` (0600) unless a file is already there; True if this call wrote it.

    Written to a private temporary file first and linked into place, so a reader never sees a
    half-written key and two servers starting together agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (signer.skey + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
