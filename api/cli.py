"""The `kaohe` command line: serve, token create, replay, verify, demo.

Thin: parse arguments, build the application service on `KAOHE_DATABASE_URL`, call it, print.
"""

from __future__ import annotations

import argparse
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

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token; prints it as the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["office", "department", "district", "auditor", "admin"])
    create.add_argument("--department")
    create.add_argument("--district")

    replay = commands.add_parser("replay", help="rebuild every projection from the store; print final scores and digest")
    replay.add_argument("--year", type=int, required=True)

    verify = commands.add_parser("verify", help="check every hash chain; exit 1 if the history was tampered with")
    verify.add_argument("--year", type=int)

    rubric = commands.add_parser("rubric", help="check a rubric file: refusals name the place, mismatches warn")
    rubric_commands = rubric.add_subparsers(dest="rubric_command", required=True)
    check = rubric_commands.add_parser("check", help="validate a rubric (a shipped id, or a JSON file)")
    check.add_argument("rubric", help="a shipped rubric id (dalian-2018) or the path of a rubric JSON file")

    demo = commands.add_parser("demo", help="open a demo year (2018, Dalian's ten districts) and print sign-in tokens")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if any year exists")
    demo.add_argument("--year", type=int, default=2018)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "rubric":
        return _check_rubric(args.rubric)
    from api.service import KaoheApp

    app = KaoheApp.from_url()
    try:
        if args.command == "token":
            from api.service.tokens import create_token

            secret = create_token(app.views, args.name, args.role, department=args.department, district=args.district)
            print(f"token for {args.name} ({args.role}):")
            print(secret)
            return 0
        if args.command == "replay":
            return _replay(app, args.year)
        if args.command == "verify":
            return _verify(app, args.year)
        if args.command == "demo":
            return _demo(app, args.year, args.if_empty)
    finally:
        app.close()
    return 2


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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.service import KaoheApp

    KaoheApp.from_url().close()  # create the database before any worker starts (see EVENTSOURCING-NOTES)
    print(f"kaohe: http://{args.host}:{args.port}/  (API docs at /docs)", flush=True)
    uvicorn.run("api.asgi:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="warning", access_log=False)
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
    if not result["fast_path_agrees"]:
        print("kaohe replay: the fast replay of the raw rows disagrees with the rebuilt projection", file=sys.stderr)
        return 1
    return 0


def _verify(app, year: int | None) -> int:
    result = app.verify(year)
    if result["ok"]:
        print(f"ok: {result['events']} events in {result['chains']} chains intact; head {result['head']}")
        return 0
    print(f"TAMPERED: {len(result['problems'])} problem(s); first broken link:", file=sys.stderr)
    for problem in result["problems"][:10]:
        print(f"  position {problem['position']} aggregate {problem['aggregate']} version {problem['version']}: "
              f"{problem['problem']}", file=sys.stderr)
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
        secret = create_token(app.views, name, role, department=department, district=district)
        lines.append(f"{role}\t{name}\t{secret}")
    text = "\n".join(lines) + "\n"
    path = Path("var/demo-tokens.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(text + f"(also written to {path})\n"
          "Sign in on the first page (http://127.0.0.1:8000/ by default) with one of these tokens: 市总工会办公室 for the roll call, "
          "中山区总工会 for a district's view.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
