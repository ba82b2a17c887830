"""The witness (见证) an auditor runs on its own machine: fetch each year's latest checkpoint, check it extends
the last one this witness saw (consistency proof), cosign it with the witness's own key, post the cosignature.

Its state (a folder) keeps the service's key as first seen and, per year, the last checkpoint cosigned; an
inconsistent or shrunken checkpoint is refused and the state is left as it was.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from domain.log_check import LogCheckFailed, check_consistency, signed_checkpoint
from domain.signed_note import Signer, Verifier, add_signature

Fetch = Callable[[str, str, dict | None], tuple[int, Any]]  # (method, path, json body) → (status, json)


def http_fetch(url: str, token: str) -> Fetch:
    def fetch(method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
    return fetch


def _get(fetch: Fetch, path: str) -> Any:
    status, body = fetch("GET", path, None)
    if status != 200:
        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
        raise LogCheckFailed(f"服务器拒绝 {path}：{message or status}", f"the server refused {path}: {status}")
    return body


def _save(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def run(fetch: Fetch, key: Signer, state: Path) -> list[str]:
    """Witness every year the server lists; return what was done, raise LogCheckFailed on a refusal."""
    state.mkdir(parents=True, exist_ok=True)
    served = _get(fetch, "/api/log/key")["vkey"]
    known_file = state / "service.vkey"
    if known_file.exists() and known_file.read_text(encoding="ascii").strip() != served:
        raise LogCheckFailed("服务器的签名密钥与先前见到的不同", "the server's key differs from the one first seen")
    if not known_file.exists():
        known_file.write_text(served + "\n", encoding="ascii")
    verifier = Verifier(served)
    done = []
    for year in sorted(y["year"] for y in _get(fetch, "/api/years")["years"]):
        done.append(witness_year(fetch, key, verifier, year, state / f"{year}.json"))
    return done


def witness_year(fetch: Fetch, key: Signer, verifier: Verifier, year: int, saved: Path) -> str:
    latest = _get(fetch, f"/api/years/{year}/log/checkpoint")
    origin, size, root = signed_checkpoint(verifier, latest.get("note"))
    if saved.exists():
        last = json.loads(saved.read_text(encoding="utf-8"))
        proof = _get(fetch, f"/api/years/{year}/log/consistency?first={last['size']}&second={size}") \
            if size >= last["size"] else {}
        check_consistency(verifier, last["origin"], last["size"], bytes.fromhex(last["root"]), latest, proof)
    status, body = fetch("POST", f"/api/years/{year}/log/cosignatures", {"note": add_signature(latest["note"], key)})
    if status != 201:
        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else status
        raise LogCheckFailed(f"服务器不接受见证签名：{message}", f"the server refused the cosignature ({status})")
    _save(saved, {"origin": origin, "size": size, "root": root.hex(), "note": latest["note"]})
    return f"{origin} 大小 {size}：一致，已见证签名 (consistent; cosigned)"
