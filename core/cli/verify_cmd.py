"""``assay verify DOMAIN --gold ... --response ...``: judge one response and print the Verdict."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="judge one response with a verifier and print the Verdict",
        description="Judge one response against a gold answer and print the Verdict.",
        epilog=r"example: assay verify math --gold '\frac{1}{2}' --response 'so the answer is \boxed{0.5}'",
    )
    p.add_argument("verifier", help="verifier name, e.g. math")
    p.add_argument("--gold", required=True, help="the gold answer (for math: LaTeX or plain text)")
    p.add_argument("--response", help="the response to judge; '-' or omitted reads it from stdin")
    p.add_argument("--json", action="store_true", help="print the Verdict as JSON")
    p.add_argument("--check", action="store_true", help="exit with status 1 unless the response passed")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay import verifiers
    from assay.cli.show import print_verdict, verdict_json
    from assay.types import Task

    verifier = verifiers.get(args.verifier)
    response = args.response
    if response is None or response == "-":
        response = sys.stdin.read()
    task = Task(id="cli", prompt="", answer=args.gold, domain=args.verifier)
    verdict = verifier.verify(task, response)
    if args.json:
        print(verdict_json(verdict))
    else:
        print_verdict(verdict)
    return 1 if args.check and not verdict.passed else 0
