"""How a command's answer leaves the API: an idempotent replay says so in a header, and every write
tells its store position (`Kaohe-Position`), which a later read may pass back as `Kaohe-Read-After`."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.service import KaoheApp

REPLAY_HEADER = "Idempotent-Replay"
POSITION_HEADER = "Kaohe-Position"


def written(result: dict[str, Any], response: Response, service: KaoheApp) -> dict[str, Any]:
    if result.get("idempotent_replay"):
        response.headers[REPLAY_HEADER] = "true"
    response.headers[POSITION_HEADER] = str(service.reached_by(result))
    return {k: v for k, v in result.items() if k != "idempotent_replay"}
