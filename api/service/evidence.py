"""证明材料 files: bytes stored once by SHA-256 in the events' database, each upload an event on the ledger.

The bytes live in `kaohe_evidence_blobs` (SQLite BLOB / PostgreSQL BYTEA), created here like the token
table and, like it, never dropped with the views. The library's `save()` runs in a transaction of its
own connection, so bytes and event cannot share one: the bytes are written first, idempotently by
hash, after every check has passed, and the `EvidenceUploaded` event follows. A save that then fails
leaves at most unreferenced bytes (harmless: content-addressed, reused by the next upload of them);
an event never names bytes that are not there.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from typing import Any

from domain.actors import Actor, require_reader_of, require_uploader
from domain.errors import Conflict, NotFound, TooLarge, UnsupportedType
from domain.evidence_types import ACCEPTED, is_sha256, safe_filename, sniff
from projections.catchup import loads
from projections.store import ViewStore

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# What multipart framing (boundaries, part headers, a short file name) adds around the file's bytes:
# an upload's whole body may be this much larger than KAOHE_EVIDENCE_MAX_BYTES.
MULTIPART_OVERHEAD = 64 * 1024
TABLE = "kaohe_evidence_blobs"



def max_bytes() -> int:
    """KAOHE_EVIDENCE_MAX_BYTES (default 20 MiB): the largest evidence file accepted."""
    value = os.environ.get("KAOHE_EVIDENCE_MAX_BYTES", "")
    try:
        return int(value) if value.strip() else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"文件超过 {limit // (1024 * 1024) or limit} {'MiB' if limit >= 1024 * 1024 else '字节'} 上限 "
                    f"(file larger than KAOHE_EVIDENCE_MAX_BYTES = {limit} bytes)", field="file")


def init(views: ViewStore) -> None:
    """Create the blob table if it is not there yet (once per store object)."""
    blob = "BYTEA" if views.is_postgres else "BLOB"
    views.ensure_tables("evidence", [f"CREATE TABLE IF NOT EXISTS {TABLE} (sha256 TEXT PRIMARY KEY, size BIGINT "
                                     f"NOT NULL, data {blob} NOT NULL, stored_at TEXT NOT NULL)"])


def store_bytes(views: ViewStore, sha256: str, data: bytes) -> None:
    """Keep the bytes under their hash; bytes already there are left as they are."""
    init(views)
    with views.transaction() as tx:
        tx.execute(f"INSERT INTO {TABLE} (sha256, size, data, stored_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (sha256) DO NOTHING",
                   (sha256, len(data), data, datetime.now(timezone.utc).isoformat(timespec="seconds")))


def stored_bytes(views: ViewStore, sha256: str) -> bytes | None:
    init(views)
    rows = views.query(f"SELECT data FROM {TABLE} WHERE sha256 = ?", (sha256,))
    return bytes(rows[0][0]) if rows else None


def check_stored(views: ViewStore, uploads: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """For `kaohe verify`: re-hash the stored bytes of every uploaded file; a problem per upload event it breaks."""
    problems = []
    for sha256, events in uploads.items():
        try:
            rows = views.query(f"SELECT size, data FROM {TABLE} WHERE sha256 = ?", (sha256,))
        except Exception as e:  # noqa: BLE001 - a missing or unreadable table is itself what verify reports
            rows, problem = [], f"the evidence table cannot be read: {type(e).__name__}"
        else:
            problem = "the uploaded file's bytes are missing from the store"
        if rows:
            data = bytes(rows[0][1])
            if hashlib.sha256(data).hexdigest() == sha256 and len(data) == events[0]["size"]:
                continue
            problem = "the stored bytes of the uploaded file do not match its sha256: the file was altered"
        problems.extend({**where, "problem": f"{problem} ({sha256})"}
                        for where in ({k: e[k] for k in ("aggregate", "version", "position")} for e in events))
    return problems


class EvidenceCommands:
    """Mixed into `KaoheApp`: upload, list and download a district's 证明材料."""

    def upload_evidence(self, actor: Actor, *, year: int, district: str, data: bytes, filename: str | None,
                        idempotency_key: str | None = None) -> dict[str, Any]:
        """201 with `created: True`, or the same file again for that district: `created: False` (200)."""
        require_uploader(actor, district)
        limit = max_bytes()
        if len(data) > limit:
            raise too_large(limit)
        media_type = sniff(data)
        if media_type is None or media_type not in ACCEPTED:
            raise UnsupportedType("只接受 PDF、JPEG、PNG、Office 文档（docx、xlsx、pptx、doc、xls）和纯文本文件 "
                                  "(refused by content: not an accepted evidence type)", field="file")
        sha256 = hashlib.sha256(data).hexdigest()
        name = safe_filename(filename or "")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            y.check_district(district)
            ledger = self._ledger(year, district)
            ledger.check_open()
            known = ledger.history.files.get(sha256)
            if known is None:
                store_bytes(self.views, sha256, data)  # first the bytes, then the event that names them
                ledger.upload_evidence(sha256=sha256, size=len(data), media_type=media_type, filename=name,
                                       actor=actor.as_event())
            recorded = ledger.history.files[sha256]
            return ([ledger] if known is None else []), {
                "sha256": sha256, "size": recorded["size"], "media_type": recorded["media_type"],
                "filename": recorded["filename"], "reference": f"sha256:{sha256}", "district": district,
                "created": known is None, "receipt": ledger.receipt}

        return self._write(actor, "upload_evidence", {"year": year, "district": district, "sha256": sha256,
                                                      "filename": name}, build, idempotency_key)

    def evidence_files(self, actor: Actor, year: int, district: str) -> list[dict[str, Any]]:
        """The district's uploaded files, oldest first, as the views hold them."""
        require_reader_of(actor, district)
        if district not in self.year_info(year)["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        return self.evidence_names(year, district, detail=True)

    def evidence_names(self, year: int, district: str, detail: bool = False) -> Any:
        """sha256 → file name (or, with `detail`, the full rows) of a district's uploads; for pages' links."""
        rows = self.views.query(
            "SELECT sha256, size, media_type, filename, uploaded_at, actor FROM view_evidence "
            "WHERE year = ? AND district = ? ORDER BY position", (year, district))
        if not detail:
            return {sha: name for sha, _, _, name, _, _ in rows}
        return [{"sha256": sha, "reference": f"sha256:{sha}", "size": size, "media_type": media, "filename": name,
                 "uploaded_at": at, "actor": loads(who)} for sha, size, media, name, at, who in rows]

    def evidence_file(self, actor: Actor, year: int, district: str, sha256: str) -> dict[str, Any]:
        """One uploaded file of a district: its bytes, type and name. Only in the reader's scope."""
        require_reader_of(actor, district)
        if district not in self.year_info(year)["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        sha256 = sha256.lower()
        rows = self.views.query("SELECT filename, media_type, size FROM view_evidence "
                                "WHERE year = ? AND district = ? AND sha256 = ?", (year, district, sha256))
        if not is_sha256(sha256) or not rows:
            raise NotFound(f"{district} 没有上传这个文件 (no such file for this district)")
        data = stored_bytes(self.views, sha256)
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            # Never hand out bytes that are not what the history names; `kaohe verify` says more.
            raise Conflict("存储的文件已损坏，请联系管理员运行 kaohe verify (stored bytes do not match their hash)")
        filename, media_type, size = rows[0]
        return {"data": data, "filename": filename, "media_type": media_type, "size": size}
