"""``assay sandbox``: run a command in the sandbox, check which backends work, build the image."""

from __future__ import annotations

import argparse
import sys

from assay.errors import AssayError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="run commands in the sandbox; check which backends work",
                       description="Isolated execution of untrusted code (bubblewrap or Docker).")
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])
    s = p.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND")

    r = s.add_parser("run", help="run one command in a fresh sandbox",
                     description="Run CMD in a fresh sandbox and print its stdout, stderr, exit code and flags. "
                                 "Example: assay sandbox run --wall-s 2 -- python3 -c 'print(1)'")
    r.add_argument("--backend", default="auto", choices=["auto", "bwrap", "docker"], help="default: auto")
    r.add_argument("--image", default=None, help="Docker image (docker backend only)")
    r.add_argument("--wall-s", type=float, default=10.0, help="wall-clock limit in seconds (default 10)")
    r.add_argument("--cpu-s", type=float, default=10.0, help="CPU seconds per process (default 10)")
    r.add_argument("--memory-mb", type=int, default=1024, help="memory cap in MiB (default 1024)")
    r.add_argument("--pids", type=int, default=64, help="processes + threads at once (default 64)")
    r.add_argument("--output-bytes", type=int, default=1 << 20, help="cap per output stream (default 1 MiB)")
    r.add_argument("--disk-mb", type=int, default=256, help="work directory size in MiB (default 256)")
    r.add_argument("--network", action="store_true", help="allow network access (default: none)")
    r.add_argument("--stdin", action="store_true", help="pass this process's stdin to the command")
    r.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                   help="copy host file PATH into the work directory as NAME (repeatable)")
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    r.set_defaults(run=run_cmd)

    d = s.add_parser("doctor", help="which backends work here and why the others do not",
                     description="Check every sandbox backend on this machine and say how to fix the ones that fail.")
    d.add_argument("--image", default=None, help="Docker image to check (default: the one assay builds)")
    d.set_defaults(run=doctor_cmd)

    from assay.sandbox.image import add_build_image_parser

    add_build_image_parser(s)


def _limits(args: argparse.Namespace):
    from assay.sandbox import Limits

    try:
        return Limits(wall_s=args.wall_s, cpu_s=args.cpu_s, memory_mb=args.memory_mb, pids=args.pids,
                      output_bytes=args.output_bytes, disk_mb=args.disk_mb, network=args.network)
    except ValueError as e:
        raise AssayError(str(e)) from e


def run_cmd(args: argparse.Namespace) -> int:
    from assay.sandbox import Sandbox, SandboxUnavailable

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise AssayError("no command given: assay sandbox run [options] -- CMD [ARGS...]")
    files = {}
    for spec in args.file:
        name, sep, path = spec.partition("=")
        if not sep:
            raise AssayError(f"--file {spec!r}: use NAME=PATH")
        try:
            with open(path, "rb") as f:
                files[name] = f.read()
        except OSError as e:
            raise AssayError(f"--file {spec!r}: {e.strerror}") from e
    stdin = sys.stdin.buffer.read() if args.stdin else b""
    try:
        result = Sandbox(args.backend, image=args.image).run(cmd, files=files, stdin=stdin, limits=_limits(args))
    except (SandboxUnavailable, ValueError) as e:
        raise AssayError(str(e)) from e
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(result.stderr)
    flags = [f for f in ("timed_out", "memory_exceeded", "output_truncated") if getattr(result, f)]
    print(f"[sandbox] exit {result.exit_code}, {result.wall_s:.3f} s"
          + (f", {', '.join(flags)}" if flags else ""), file=sys.stderr)
    return 0 if result.ok else (result.exit_code if 0 < result.exit_code < 256 else 1)


def doctor_cmd(args: argparse.Namespace) -> int:
    from assay.sandbox.doctor import auto_choice, diagnose

    report = diagnose(args.image)
    for status in report:
        print(f"{status.name:7s} {'works' if status.works else 'unavailable'}: {status.detail}")
    choice = auto_choice(report)
    print(f"auto -> {choice}" if choice else "auto -> none: sandboxed code cannot run here (see the fixes above)")
    return 0 if choice else 1
