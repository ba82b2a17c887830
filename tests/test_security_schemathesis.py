"""schemathesis over /openapi.json (bounded): generated calls to every API operation, as admin and as a
district, find no 5xx and no answer that breaks the documented schema (status, body, content type)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extras (pip install -e '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.asgi import create_app  # noqa: E402
from api.service import KaoheApp, tokens  # noqa: E402
from domain.actors import Actor  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and caller: bounded, so the whole suite stays a couple of minutes (more: set the variable).
EXAMPLES = int(os.environ.get("KAOHE_SCHEMATHESIS_EXAMPLES") or 15)


@pytest.fixture
def kaohe(tmp_path):
    service = KaoheApp.from_url(f"sqlite:///{tmp_path}/kaohe.sqlite3")
    service.open_year(Actor("fixture-admin", "admin"), year=2018, rubric="dalian-2018", districts=["中山区", "西岗区"])
    service.hold_meeting(Actor("o", "office"), year=2018, title="会议", held_on="2018-03-01", absent=["中山区"])
    app = create_app(service)
    app.state.auth_failures.limit = 10**9  # generated calls without a token must not lock the caller out
    callers = {role: {"Authorization": "Bearer " + tokens.create_token(service.views, role, role, **scope)}
               for role, scope in (("admin", {}), ("district", {"district": "中山区"}))}
    yield app, callers
    service.close()


BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


def check_every_operation(app, headers: dict[str, str], statuses: Counter) -> list[str]:
    """Every operation of /openapi.json, EXAMPLES generated calls each; what broke the contract."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    broken: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        @given(case=operation.as_strategy())
        @BOUNDED
        def run(case) -> None:
            statuses[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1

        try:
            run()
        except Exception as e:  # noqa: BLE001 - gathered, so one run names every broken operation
            broken.append(f"{operation.method.upper()} {operation.path}: {str(e)[:1500]}")
    return broken


@pytest.mark.parametrize("caller", ["admin", "district"])
def test_the_api_keeps_its_documented_contract(kaohe, caller):
    app, callers = kaohe
    statuses: Counter = Counter()
    broken = check_every_operation(app, callers[caller], statuses)
    assert broken == [], "\n\n".join(broken)
    assert statuses[200] and statuses[422] and statuses[404]  # the calls reached the service, not only its door
