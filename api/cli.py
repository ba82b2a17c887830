"""The `kaohe` command line: serve, token create/list/revoke, replay, verify, rubric check and add, demo,
log (verify, keygen, witness-key, witness).

Thin: parse arguments, build the application service on `KAOHE_DATABASE_URL`, call it, print.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import sys
from pathlib import Path
from typing import Sequence

from domain.scoring import display

DEMO_DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区", "旅顺口区", "金州区", "普兰店区", "瓦房店市", "庄河市", "长海县"]
DEMO_TOKENS = [
    ("管理员", "admin", None, None),
    ("市总工会办公室", "office", None, None),
    ("宣传教育部", "department", "宣传教育部", None),
    ("组织建设部", "department", "组织建设部", None),
    ("中山区总工会", "district", None, "中山区"),
    ("审计", "auditor", None, None),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kaohe", description="实绩考核 audit-trail scoring service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API and web pages")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--behind-https", action="store_true",
                       help="a TLS-terminating reverse proxy serves kaohe: Secure cookies, HSTS, https origins "
                            "(same as KAOHE_BEHIND_HTTPS=1; see docs/security.md)")
    serve.add_argument("--forwarded-allow-ips", default=None,
                       help="proxies whose X-Forwarded-For/-Proto are believed (uvicorn's; default 127.0.0.1)")

    serve.add_argument("--projector", choices=["thread", "process"], default="thread",
                       help="SQLite: catch the views up in a thread of the server (default) or in a process of its "
                            "own, which frees the server's interpreter for requests where cores are to spare "
                            "(README, Deploying; PostgreSQL: one server process per store leads either way)")
    project = commands.add_parser("project", help="catch the views up as the store's leader until stopped "
                                                  "(what `kaohe serve --projector process` starts beside itself)")
    project.add_argument("--parent", type=int, default=None, help="stop when this process is gone")

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token; prints it as the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["office", "department", "district", "auditor", "admin"])
    create.add_argument("--department")
    create.add_argument("--district")
    create.add_argument("--expires", help="when it stops working: a duration (30m, 12h, 90d, 2w), a date "
                                          "(YYYY-MM-DD, valid through that day, Asia/Shanghai) or an ISO date-time")
    create.add_argument("--allow-unknown-scope", action="store_true",
                        help="accept a district no open year assesses yet, or a department the rubrics do not name "
                             "(tokens made before the year opens)")
    token_commands.add_parser("list", help="every token's name, role, scope and state (never the token itself)")
    revoke = token_commands.add_parser("revoke", help="revoke a token by name; running servers refuse it within a second")
    revoke.add_argument("name")

    replay = commands.add_parser("replay", help="rebuild every projection from the store; print final scores and digest")
    replay.add_argument("--year", type=int, required=True)

    verify = commands.add_parser("verify", help="check every hash chain, reading the store only; exit 1 if the history "
                                                "was tampered with, 2 if it cannot be checked")
    verify.add_argument("--year", type=int)
    verify.add_argument("--vkey", help="the service's verifier key (GET /api/log/key), for a copy without its key file")

    rubric = commands.add_parser("rubric", help="check a rubric file: refusals name the place, mismatches warn")
    rubric_commands = rubric.add_subparsers(dest="rubric_command", required=True)
    check = rubric_commands.add_parser("check", help="validate a rubric (a shipped id, or a JSON file)")
    check.add_argument("rubric", help="a shipped rubric id (dalian-2018) or the path of a rubric JSON file")
    add = rubric_commands.add_parser("add", help="check a rubric JSON file, then store it so a year can open on it")
    add.add_argument("file", help="the path of a rubric JSON file")

    log = commands.add_parser("log", help="the verifiable log: check receipts offline, witness keys, the witness")
    log_commands = log.add_subparsers(dest="log_command", required=True)
    check = log_commands.add_parser("verify", help="check a receipt offline (signature, inclusion, consistency)")
    check.add_argument("--vkey", required=True, help="the service's verifier key (GET /api/log/key: vkey)")
    check.add_argument("receipt", help="a receipt JSON file (a write's answer or its receipt)")
    check.add_argument("newer", nargs="?", help="a newer checkpoint JSON file (GET .../log/checkpoint)")
    check.add_argument("--consistency", help="the consistency proof JSON file between the two (GET .../log/consistency)")
    check.add_argument("--leaves", nargs="+", help="GET .../log/leaves answers covering every leaf of the newest "
                                                   "checkpoint: each event shown must hash to its leaf and be signed")
    keygen = log_commands.add_parser("keygen", help="write a new signer key file (0600); prints its verifier key last")
    keygen.add_argument("--name", required=True)
    keygen.add_argument("--out", required=True)
    witness_key = log_commands.add_parser("witness-key", help="register a witness's verifier key (admin)")
    witness_key.add_argument("action", choices=["add"])
    witness_key.add_argument("vkey")
    witness = log_commands.add_parser("witness", help="fetch, check consistency, cosign and post each year's checkpoint")
    witness.add_argument("--url", required=True)
    witness.add_argument("--token", required=True, help="an auditor's token")
    witness.add_argument("--key", required=True, help="the witness's signer key file (kaohe log keygen)")
    witness.add_argument("--state", required=True, help="a folder where the witness keeps what it saw")

    demo = commands.add_parser("demo", help="open a demo year (2018, Dalian's ten districts) and print sign-in tokens")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if any year exists")
    demo.add_argument("--year", type=int, default=2018)
    demo.add_argument("--host", help="the address the server will listen on (ops/serve passes it): no demo "
                                     "tokens unless it is a loopback address")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "project":
        from api import projector
        from api.service.bootstrap import build

        return projector.run(build(), args.parent)
    if args.command == "rubric" and args.rubric_command == "check":
        return _check_rubric(args.rubric)
    if args.command == "verify":
        return _verify(args.year, args.vkey)
    if args.command == "log" and args.log_command != "witness-key":
        return _log(args)
    if args.command == "demo" and args.host is not None and not _loopback(args.host):
        print(f"kaohe demo: {args.host} is not a loopback address; no demo year or tokens made. "
              "Make tokens with `kaohe token create`, or run `kaohe demo` by hand.", file=sys.stderr)
        return 0
    from api.service import KaoheApp
    from domain.errors import DomainError

    app = KaoheApp.from_url()
    try:
        if args.command == "token":
            return _token(app, args)
        if args.command == "replay":
            return _replay(app, args.year)
        if args.command == "demo":
            return _demo(app, args.year, args.if_empty)
        if args.command == "rubric":
            return _add_rubric(app, args.file)
        if args.command == "log":
            added = app.add_witness_key(args.vkey)
            print(f"{'registered' if added['added'] else 'already registered'}: witness {added['name']}")
            print(added["vkey"])
            return 0
    except DomainError as e:
        print(f"kaohe {args.command}: {e.message}", file=sys.stderr)
        return 1
    finally:
        app.close()
    return 2


CLI_ACTOR = f"cli:{getpass.getuser()}"


def _token(app, args: argparse.Namespace) -> int:
    from api.service import tokens
    from domain.actors import Actor

    admin = Actor(CLI_ACTOR, "admin")
    if args.token_command == "list":
        listing = tokens.list_tokens(app.views, admin)
        print("name\trole\tscope\tstatus\tcreated_at\tcreated_by\texpires_at\trevoked_at")
        for t in listing["tokens"]:
            print("\t".join(str(v or "-") for v in (
                t["name"], t["role"], t["department"] or t["district"], t["status"], t["created_at"],
                t["created_by"], t["expires_at"], t["revoked_at"])))
        return 0
    if args.token_command == "revoke":
        info = tokens.revoke_token(app.views, args.name, admin)
        print(f"revoked {info['name']} ({info['role']}) at {info['revoked_at']}")
        return 0
    if not args.allow_unknown_scope:
        tokens.check_scope(app, department=args.department, district=args.district)
    secret = tokens.create_token(app.views, args.name, args.role, department=args.department,
                                 district=args.district, expires_at=tokens.parse_expiry(args.expires),
                                 created_by=CLI_ACTOR)
    print(f"token for {args.name} ({args.role}):")
    print(secret)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_rubric(name: str) -> int:
    from api.service.rubric_files import load_rubric, load_rubric_file
    from domain.rubric import RubricError

    try:
        rubric = load_rubric_file(name) if name.endswith(".json") or "/" in name else load_rubric(name)
    except (RubricError, OSError) as e:
        print(f"kaohe rubric check: refused: {e}", file=sys.stderr)
        return 1
    clauses = sum(len(i.clauses) for i in rubric.indicators)
    print(f"{rubric.id}: {len(rubric.categories)} categories, {len(rubric.indicators)} indicators, "
          f"{clauses} clauses, {rubric.total} points; content hash {rubric.content_hash}")
    for warning in rubric.warnings:
        print(f"warning: {warning}")
    return 0


def _add_rubric(app, path: str) -> int:
    """`kaohe rubric add FILE`: the checks of `kaohe rubric check`, then stored as data (an event)."""
    from domain.actors import Actor
    from domain.errors import DomainError

    if _check_rubric(path) != 0:
        return 1
    try:
        result = app.add_rubric(Actor("kaohe rubric add", "admin"), text=Path(path).read_text("utf-8"))
    except DomainError as e:
        print(f"kaohe rubric add: refused: {e.message}", file=sys.stderr)
        return 1
    state = "added" if result["created"] else "already stored"
    print(f"{state}: {result['id']} (content hash {result['content_hash']}); a year can now open on it")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api import projector
    from api.service import KaoheApp
    from projections.leader import file_leadership

    app = KaoheApp.from_url(follow=False)  # create the database before any worker starts (see EVENTSOURCING-NOTES)
    own_process = args.projector == "process" and not app.views.is_postgres and \
        file_leadership(app.views, app.recorder) is not None  # (a store in memory has one process only)
    app.close()
    if args.behind_https:
        os.environ["KAOHE_BEHIND_HTTPS"] = "1"  # read by every worker (api.shared.behind_https)
    # SQLite: the projection in a process of its own (api.projector), leading before the first request.
    child = projector.start([sys.executable, "-m", "api.cli", "project"]) if own_process else None
    print(f"kaohe: http://{args.host}:{args.port}/  (API docs at /docs)", flush=True)
    extra = {"forwarded_allow_ips": args.forwarded_allow_ips} if args.forwarded_allow_ips else {}
    try:
        uvicorn.run("api.asgi:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level="warning", access_log=False, proxy_headers=True, **extra)
    finally:
        projector.stop(child)
    return 0


def _replay(app, year: int) -> int:
    from domain.errors import DomainError

    try:
        result = app.replay(year)
    except DomainError as e:
        print(f"kaohe replay: {e.message}", file=sys.stderr)
        return 1
    print(f"{year} 年度{'最终' if result['final'] else '当前'}成绩 (final: {str(result['final']).lower()})")
    print("rank\tdistrict\ttotal")
    for row in result["districts"]:
        print(f"{row['rank']}\t{row['district']}\t{display(row['total'])}")
    print(f"digest {result['digest']}")
    # Verified in the same read as the rebuild. Tampered: the views now show what the store holds, and exit 1.
    return _verdict(result["verified"])


def _verify(year: int | None, vkey: str | None = None) -> int:
    """Exit 0 intact, 1 tampered, 2 when the store cannot be read or the year does not exist."""
    from api.service.bootstrap import build
    from domain.errors import DomainError

    app = None
    try:
        app = build(follow=False, read_only=True)
        app.log_vkey = vkey
        result = app.verify(year)
    except DomainError as e:
        print(f"kaohe verify: cannot check: {e.message}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - whatever stops the check, it is not evidence of tampering
        print(f"kaohe verify: cannot read the store: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    finally:
        if app is not None:
            try:
                app.close()
            except Exception:  # noqa: BLE001 - closing a store that failed to open
                pass
    return _verdict(result)


def _verdict(result: dict) -> int:
    """Print what `verify` found (also `replay`'s verification); 0 intact, 1 tampered."""
    if result["ok"]:
        print(f"ok: {result['events']} events in {result['chains']} chains intact; head {result['head']}")
        for note in result.get("notes", []):
            print(f"note: {note}")
        return 0
    print(f"TAMPERED: {len(result['problems'])} problem(s); first broken link:", file=sys.stderr)
    for problem in result["problems"][:10]:
        print(f"  position {problem['position']} aggregate {problem['aggregate']} version {problem['version']}: "
              f"{problem['problem']}", file=sys.stderr)
    return 1


def _log(args: argparse.Namespace) -> int:
    """The offline and witness commands: no database, only files (and the witness's HTTP calls)."""
    import json

    from domain.errors import InvalidInput
    from domain.log_check import LogCheckFailed

    try:
        if args.log_command == "keygen":
            from api.service.log_keys import write_key_file
            from domain.signed_note import Signer

            signer = Signer.generate(args.name)
            if not write_key_file(Path(args.out), signer):
                print(f"kaohe log keygen: {args.out} exists; not overwritten", file=sys.stderr)
                return 1
            print(f"signer key written to {args.out} (mode 0600); verifier key:")
            print(signer.vkey)
            return 0
        if args.log_command == "verify":
            from domain.log_check import check_consistency, check_leaves, check_receipt
            from domain.signed_note import Verifier

            def read(path: str) -> dict:
                return json.loads(Path(path).read_text(encoding="utf-8"))

            verifier = Verifier(args.vkey)
            origin, size, root, proven = check_receipt(verifier, read(args.receipt))
            if args.newer:
                if not args.consistency:
                    raise LogCheckFailed("缺少一致性证明 --consistency", "--consistency is needed with a newer checkpoint")
                size, root, more = check_consistency(verifier, origin, size, root, read(args.newer),
                                                     read(args.consistency))
                proven += more
            if args.leaves:
                proven += check_leaves(verifier, size, root, [read(path) for path in args.leaves])
            print("\n".join(["kaohe log verify: 通过 (ok)", *proven]))
            return 0
        from api.service import log_witness
        from api.service.log_keys import read_signer

        done = log_witness.run(log_witness.http_fetch(args.url, args.token), read_signer(Path(args.key)),
                               Path(args.state))
        print("\n".join(done) if done else "没有考核年度 (no years)")
        return 0
    except LogCheckFailed as e:
        print(f"kaohe log {args.log_command}: 未通过：{e.zh} (failed: {e.en})", file=sys.stderr)
        return 1
    except (InvalidInput, OSError, ValueError) as e:
        print(f"kaohe log {args.log_command}: 无法读取输入 (unreadable input): {e}", file=sys.stderr)
        return 1


def _demo(app, year: int, if_empty: bool) -> int:
    from api.service.tokens import create_token
    from domain.actors import Actor

    if app.years():
        if if_empty:
            return 0
        print("kaohe demo: a year is already open; nothing done", file=sys.stderr)
        return 1
    app.open_year(Actor("demo", "admin"), year=year, rubric="dalian-2018", districts=DEMO_DISTRICTS)
    lines = [f"# kaohe demo tokens for {year} (keep them; they are stored hashed and cannot be shown again)"]
    for name, role, department, district in DEMO_TOKENS:
        secret = create_token(app.views, name, role, department=department, district=district,
                              created_by=f"{CLI_ACTOR} (demo)")
        lines.append(f"{role}\t{name}\t{secret}")
    text = "\n".join(lines) + "\n"
    path = Path("var/demo-tokens.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by this user only: the admin token is among them.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(text + f"(also written to {path})\n"
          "Sign in on the first page (http://127.0.0.1:8000/ by default) with one of these tokens: 市总工会办公室 for the roll call, "
          "中山区总工会 for a district's view.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
