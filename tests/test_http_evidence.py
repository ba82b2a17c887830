"""证明材料 files over HTTP, on SQLite and PostgreSQL: upload and download, dedupe, refusals, scope, references, verify."""

from __future__ import annotations

import hashlib

import pytest

from api.cli import main as kaohe
from tests.conftest import YEAR
from tests.cycle_support import ELF, HTML, PDF, upload
from tests.test_http_api import error_of

Y = f"/years/{YEAR}"


def blob_rows(app) -> int:
    from api.service import evidence

    evidence.init(app.views)
    return app.views.query(f"SELECT COUNT(*) FROM {evidence.TABLE}")[0][0]


def test_upload_and_download_give_back_the_same_bytes_and_the_chinese_name(api, year_2018):
    r = upload(api, "中山区", "中山区", PDF, name="2018年工会改革方案.pdf")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["size"] == len(PDF)
    assert (body["media_type"], body["filename"], body["reference"]) == (
        "application/pdf", "2018年工会改革方案.pdf", f"sha256:{body['sha256']}")
    assert set(body["receipt"]) == {"aggregate", "version", "head", "log"}

    got = api.client.get(f"/api{Y}/districts/中山区/evidence/{body['sha256']}", headers=api.auth["中山区"])
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''2018%E5%B9%B4" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff"
    for who in ("office", "宣传教育部", "auditor", "admin"):  # every reader in scope
        assert api.client.get(f"/api{Y}/districts/中山区/evidence/{body['sha256']}",
                              headers=api.auth[who]).content == PDF

    uploaded = api.events("中山区")[-1]
    assert uploaded["type"] == "EvidenceUploaded"
    assert {k: uploaded["data"][k] for k in ("sha256", "size", "media_type", "filename")} == {
        "sha256": body["sha256"], "size": len(PDF), "media_type": "application/pdf",
        "filename": "2018年工会改革方案.pdf"}
    assert uploaded["hash"] == body["receipt"]["head"]  # chained like every event
    listed = api.get("中山区", f"{Y}/districts/中山区/evidence").json()["files"]
    assert [(f["sha256"], f["filename"]) for f in listed] == [(body["sha256"], "2018年工会改革方案.pdf")]


def test_the_same_bytes_again_are_stored_once(api, app, year_2018, stored_events):
    first = upload(api, "中山区", "中山区", PDF)
    assert first.status_code == 201
    before = stored_events()
    again = upload(api, "office", "中山区", PDF, name="另一个名字.pdf")
    assert again.status_code == 200, again.text
    assert again.json()["sha256"] == first.json()["sha256"] and again.json()["created"] is False
    assert again.json()["filename"] == "工作方案.pdf"  # the district's first upload of these bytes names them
    assert stored_events() == before  # nothing new recorded
    other = upload(api, "西岗区", "西岗区", PDF)  # another district: its own event, the same stored bytes
    assert other.status_code == 201
    assert blob_rows(app) == 1
    assert [e["type"] for e in api.events("西岗区")][-1] == "EvidenceUploaded"


@pytest.mark.parametrize("data, name", [(ELF, "readme.pdf"), (HTML, "方案.txt"), (b"", "empty.pdf"),
                                        (b"PK\x03\x04 not really a zip", "a.docx")])
def test_a_refused_type_is_415_and_nothing_is_recorded(api, app, year_2018, stored_events, data, name):
    before = stored_events()
    error_of(upload(api, "中山区", "中山区", data, name=name), 415, field="file", code="unsupported_media_type")
    assert stored_events() == before and blob_rows(app) == 0


def test_a_file_over_the_limit_is_413_and_nothing_is_recorded(api, app, year_2018, stored_events, monkeypatch):
    monkeypatch.setenv("KAOHE_EVIDENCE_MAX_BYTES", str(len(PDF) - 1))
    before = stored_events()
    error_of(upload(api, "中山区", "中山区", PDF), 413, field="file", code="too_large")
    # A body whose declared length is past the limit is refused before it is read.
    r = api.client.post(f"/api{Y}/districts/中山区/evidence", content=b"x" * (len(PDF) + 70 * 1024),
                        headers={**api.auth["中山区"], "Content-Type": "multipart/form-data; boundary=b"})
    error_of(r, 413, code="too_large")
    assert stored_events() == before and blob_rows(app) == 0
    monkeypatch.setenv("KAOHE_EVIDENCE_MAX_BYTES", str(len(PDF)))  # exactly the limit is fine
    assert upload(api, "中山区", "中山区", PDF).status_code == 201


def test_a_malformed_upload_names_the_field(api, year_2018, stored_events):
    before = stored_events()
    r = api.client.post(f"/api{Y}/districts/中山区/evidence", json={"file": "x"}, headers=api.auth["中山区"])
    error_of(r, 422, field="file")
    r = api.client.post(f"/api{Y}/districts/中山区/evidence", headers=api.auth["中山区"], data={"note": "no file"},
                        files={"other": ("a.pdf", PDF)})
    error_of(r, 422, field="file")
    assert stored_events() == before


def test_another_district_is_refused_both_ways(api, app, year_2018, stored_events):
    sha = upload(api, "中山区", "中山区", PDF).json()["sha256"]
    before = stored_events()
    error_of(upload(api, "西岗区", "中山区", PDF), 403, code="forbidden")
    error_of(upload(api, "auditor", "中山区", PDF), 403, code="forbidden")
    assert stored_events() == before
    r = api.client.get(f"/api{Y}/districts/中山区/evidence/{sha}", headers=api.auth["西岗区"])
    error_of(r, 403, code="forbidden")
    error_of(api.get("西岗区", f"{Y}/districts/中山区/evidence"), 403, code="forbidden")
    # The bytes are stored, but 西岗区 never uploaded them: not its file to download.
    error_of(api.client.get(f"/api{Y}/districts/西岗区/evidence/{sha}", headers=api.auth["西岗区"]), 404)


def test_file_references_in_evidence_lists_must_name_the_districts_uploads(api, year_2018, stored_events):
    sha = upload(api, "中山区", "中山区", PDF).json()["sha256"]
    unknown = "sha256:" + "ab" * 32
    before = stored_events()
    error_of(api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.1.a", "evidence": [unknown]}),
             422, field="evidence")
    error_of(api.post("宣传教育部", f"{Y}/districts/西岗区/findings",  # 中山区's file is not 西岗区's
                      {"clause": "2.1.a", "evidence": [f"sha256:{sha}"]}), 422, field="evidence")
    error_of(api.post("宣传教育部", f"{Y}/districts/中山区/findings", {"clause": "2.1.a", "evidence": ["sha256:xyz"]}),
             422, field="evidence")
    error_of(api.post("office", f"{Y}/meetings", {"title": "会", "held_on": "2018-03-01", "absent": ["中山区"],
                                                  "evidence": [unknown]}), 422, field="evidence")
    assert stored_events() == before
    r = api.post("宣传教育部", f"{Y}/districts/中山区/findings",
                 {"clause": "2.1.a", "evidence": [f"SHA256:{sha.upper()}", "纸质通知（存档）"]})
    assert r.status_code == 201, r.text
    finding = r.json()["id"]
    assert api.events("中山区")[-1]["data"]["evidence"] == [f"sha256:{sha}", "纸质通知（存档）"]
    error_of(api.post("中山区", f"{Y}/findings/{finding}/disputes", {"statement": "已印发", "evidence": [unknown]}),
             422, field="evidence")
    assert api.post("中山区", f"{Y}/findings/{finding}/disputes",
                    {"statement": "已印发", "evidence": [f"sha256:{sha}"]}).status_code == 201


def test_verify_re_hashes_stored_files(api, app, year_2018, monkeypatch, capsys):
    sha = upload(api, "中山区", "中山区", PDF).json()["sha256"]
    app.catch_up()
    assert app.verify(YEAR)["ok"]
    from api.service import evidence

    app.views.execute(f"UPDATE {evidence.TABLE} SET data = ? WHERE sha256 = ?", (PDF.replace(b"1.4", b"1.7"), sha))
    result = app.verify(YEAR)
    assert not result["ok"]
    assert "altered" in result["first_broken"]["problem"] and sha in result["first_broken"]["problem"]
    r = api.get("auditor", f"{Y}/verify")
    assert r.json()["ok"] is False
    # the damaged bytes are not handed out
    error_of(api.client.get(f"/api{Y}/districts/中山区/evidence/{sha}", headers=api.auth["中山区"]), 409)
    # and `kaohe verify` on the same database exits 1 naming it
    set_database_env(monkeypatch, app)
    assert kaohe(["verify", "--year", str(YEAR)]) == 1
    assert "altered" in capsys.readouterr().err
    app.views.execute(f"DELETE FROM {evidence.TABLE} WHERE sha256 = ?", (sha,))
    assert "missing" in app.verify(YEAR)["first_broken"]["problem"]


def set_database_env(monkeypatch, app) -> None:
    """Point the command line at the test's own store."""
    from tests.stores import POSTGRES_URL

    if app.views.is_postgres:
        monkeypatch.setenv("KAOHE_DATABASE_URL", POSTGRES_URL)
        monkeypatch.setenv("KAOHE_POSTGRES_SCHEMA", app.env.get("POSTGRES_SCHEMA"))
    else:
        monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{app.env.get('SQLITE_DBNAME')}")


def test_a_closed_year_takes_no_upload(api, year_2018, stored_events, app):
    api.post("admin", f"{Y}/close", {"force": True})
    before = stored_events()
    error_of(upload(api, "中山区", "中山区", PDF), 409)
    assert stored_events() == before and blob_rows(app) == 0


def test_an_upload_may_be_larger_than_the_json_body_limit(api, year_2018):
    """The general 1 MiB body guard lets the upload routes carry KAOHE_EVIDENCE_MAX_BYTES (api.upload.UPLOAD_PATHS)."""
    big = "工作记录\n".encode() * (200 * 1024)  # ~2.6 MB of plain text
    r = upload(api, "中山区", "中山区", big, name="记录.txt")
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(big) and r.json()["media_type"].startswith("text/plain")
    too_big = api.client.post(f"/api{Y}/districts/中山区/findings", headers=api.auth["宣传教育部"],
                              content=b'{"clause": "2.1.a", "note": "' + b"x" * (1 << 20) + b'"}',
                              )
    assert too_big.status_code == 413  # a JSON body keeps its own limit
