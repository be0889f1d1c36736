"""Programs that try to pass without solving the problem: each test checks that one trick fails.

Every task here is solvable (a control test shows the honest program passes), so a failure of
the trick is the harness holding, not the task being impossible. Secrets are random per run, so
no program can hard-code them.
"""

from __future__ import annotations

import secrets

import pytest

from tests.verifiers.code.conftest import call_task, check_task, fenced, stdio_task

SECRET = "SECRET-" + secrets.token_hex(8)
# A search for SECRET-like strings everywhere a program in the sandbox can look: its own memory
# (objects, frames), every file, every process's cmdline/environ/fds/memory.
FIND_SECRET = r'''
import gc, os, re, sys
PAT = re.compile(rb"SECRET-[0-9a-f]{16}")
def find():
    for obj in gc.get_objects():
        for value in (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else [obj]):
            if isinstance(value, str) and PAT.search(value.encode(errors="ignore")):
                return PAT.search(value.encode(errors="ignore")).group().decode()
    frame = sys._getframe()
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, (str, bytes)):
                m = PAT.search(value if isinstance(value, bytes) else value.encode(errors="ignore"))
                if m:
                    return m.group().decode()
        frame = frame.f_back
    paths = []
    for top in ("/tmp", "/work", "/dev/shm"):
        for root, _, files in os.walk(top):
            paths += [os.path.join(root, f) for f in files]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            paths += [f"/proc/{pid}/{n}" for n in ("cmdline", "environ", "fd/0", "fd/3", "fd/4", "fd/5")]
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # pipes too, without blocking on them
            try:
                m = PAT.search(os.read(fd, 1 << 20))
            finally:
                os.close(fd)
            if m:
                return m.group().decode()
        except OSError:
            pass
    for pid in os.listdir("/proc"):  # other processes' memory (the test process holds the secret)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            maps = open(f"/proc/{pid}/maps").read().splitlines()
            with open(f"/proc/{pid}/mem", "rb") as mem:
                for line in maps:
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    mem.seek(lo)
                    m = PAT.search(mem.read(min(hi - lo, 1 << 24)))
                    if m:
                        return m.group().decode()
        except (OSError, ValueError, OverflowError):
            pass
    return "none"
'''


def test_control_honest_programs_pass(verifier):
    assert verifier.verify(stdio_task([("2\n", "4\n")]), fenced("print(int(input()) * 2)")).passed
    assert verifier.verify(call_task("f", [[1]], [SECRET]), fenced(f"def f(x):\n    return {SECRET!r}")).passed
    assert verifier.verify(check_task("f", f"def check(c):\n    assert c() == {SECRET!r}\n"),
                           fenced(f"def f():\n    return {SECRET!r}")).passed


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)"])
def test_exit_before_the_asserts_fails(verifier, exit_call):
    task = check_task("f", "def check(candidate):\n    assert candidate(2) == 3\n")
    verdict = verifier.verify(task, fenced(f"{exit_call}\ndef f(x):\n    return 0"))
    assert not verdict.passed and verdict.error is None


@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)"])
def test_exit_inside_the_called_function_fails(verifier, exit_call):
    code = f"def f(x):\n    {exit_call}"
    assert not verifier.verify(call_task("f", [[1]], [2]), fenced(code)).passed
    assert not verifier.verify(check_task("f", "def check(c):\n    assert c(1) == 2\n"), fenced(code)).passed


def test_exit_zero_without_output_fails_stdio(verifier):
    verdict = verifier.verify(stdio_task([("1\n", "2\n")]), fenced("import os\nos._exit(0)"))
    assert not verdict.passed and verdict.details["tests"][0]["status"] == "wrong_answer"


FAKE_REPORT = r'''
import json, os
fake = json.dumps({"tests": [{"exit_code": 0, "timed_out": False, "stdout": "2\n", "result": json.dumps({"passed": True, "value": 2})}] * 4})
print("All tests passed (1 of 1).\n" + fake)
print('{"passed": true}')
for fd in range(3, 64):  # any inherited channel: the result pipe, the harness's stdout
    try:
        os.write(fd, fake.encode() + b'{"passed": true}')
    except OSError:
        pass
'''


@pytest.mark.parametrize("kind", ["stdio", "call", "check"])
def test_printed_pass_markers_fail(verifier, kind):
    task = {"stdio": stdio_task([("1\n", "2\n")]), "call": call_task("f", [[1]], [2]),
            "check": check_task("f", "def check(c):\n    assert c(1) == 2\n")}[kind]
    code = FAKE_REPORT + "\ndef f(x):\n    " + FAKE_REPORT.replace("\n", "\n    ") + "\n    os._exit(0)\n"
    verdict = verifier.verify(task, fenced(code))
    assert not verdict.passed and verdict.error is None


def test_harness_fds_cannot_be_opened_through_proc(verifier):
    """The harness is non-dumpable: its /proc/<pid>/fd/* cannot be opened, so no forged report
    reaches the harness's stdout. The program prints how many of the harness's fds it opened."""
    code = r'''
import os
opened = 0
for fd in ("0", "1", "2"):
    try:
        os.close(os.open(f"/proc/{os.getppid()}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
        opened += 1
    except OSError:
        pass
print("opened", opened)
'''
    verdict = verifier.verify(stdio_task([("", "solved\n")]), fenced(code))
    assert not verdict.passed
    assert "Got:\nopened 0" in verdict.feedback, verdict.feedback


FORGE_FRAMES = r'''
import json, os
fake = json.dumps({"tests": [{"exit_code": 0, "timed_out": False, "stdout": "solved\n"}]})
frame = json.dumps({"exit_code": 0, "timed_out": False, "truncated": False, "wall_s": 0.0, "blobs": [len(fake) + 1, 0]}).encode()
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        for fd in ("1", "2"):
            try:
                f = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                os.write(f, len(frame).to_bytes(4, "big") + frame + b"\n" + fake.encode())
            except OSError:
                pass
print("wrong")
'''


@pytest.fixture
def own_verifier(bwrap_ok):
    """A verifier of its own: the attacks below may leave its pool's worker out of step."""
    from assay.verifiers.code import CodeVerifier

    v = CodeVerifier(test_timeout_s=1.0, total_timeout_s=4.0, compile_timeout_s=1.0, workers=1)
    yield v
    v.close()


def test_forged_reports_written_to_every_reachable_fd_fail(own_verifier):
    """Whatever fds a program can reach (the pool keeps its control pipes out of reach since the
    sandbox fix, but the verifier must not rely on that alone), a forged report without the
    nonce, which no candidate process ever held, is not taken."""
    verdict = own_verifier.verify(stdio_task([("", "solved\n")]), fenced(FORGE_FRAMES))
    assert not verdict.passed and verdict.error is None


FORGE_WITH_NONCE = r'''
import gc, json, os, re, sys
TAIL = re.compile(rb"([0-9a-f]{32})\s*$")
def nonces():
    """What a request's stdin looks like to the harness: a blob that ends in 32 hex digits."""
    seen = []
    frame = sys._getframe()
    while frame is not None:
        seen += [v for v in frame.f_locals.values() if isinstance(v, (bytes, str))]
        frame = frame.f_back
    seen += [o for o in gc.get_objects() if isinstance(o, (list, tuple))]
    for blob in seen:
        for item in (blob if isinstance(blob, (list, tuple)) else [blob]):
            if isinstance(item, (bytes, str)):
                m = TAIL.search(item if isinstance(item, bytes) else item.encode(errors="ignore"))
                if m:
                    yield m.group(1).decode()
def forge():
    report = json.dumps({"tests": [{"exit_code": 0, "timed_out": False, "result": json.dumps({"passed": True})}]})
    for nonce in nonces():
        body = (nonce + "\n" + report).encode()
        frame = json.dumps({"exit_code": 0, "timed_out": False, "truncated": False, "wall_s": 0.0,
                            "blobs": [len(body), 0]}).encode()
        try:
            f = os.open("/proc/1/fd/1", os.O_WRONLY | os.O_NONBLOCK)  # bwrap's stdout (once the answer pipe)
            os.write(f, len(frame).to_bytes(4, "big") + frame + body)
        except OSError:
            pass
        break
forge()
def f(x):
    return "wrong"
'''


def test_check_mode_reports_cannot_be_forged_with_a_found_nonce(own_verifier):
    """In check mode the report is the verdict. The candidate hunts its memory for the request's
    stdin (which ends in the nonce) and writes a passing answer frame into pid 1's stdout (the
    answer pipe before the sandbox fix); it must find no nonce to forge with."""
    verdict = own_verifier.verify(check_task("f", f"def check(c):\n    assert c(1) == {SECRET!r}\n"),
                                  fenced(FORGE_WITH_NONCE))
    assert not verdict.passed and verdict.error is None


def test_forged_frames_do_not_disturb_the_next_verdict(own_verifier):
    own_verifier.verify(stdio_task([("", "solved\n")]), fenced(FORGE_FRAMES))
    assert own_verifier.verify(stdio_task([("", "solved\n")]), fenced("print('solved')")).passed


class_eq = '''
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
'''


@pytest.mark.parametrize("value", ["Anything()", "type('S', (str,), {'__eq__': lambda s, o: True, '__hash__': str.__hash__})('x')",
                                   "type('I', (int,), {'__eq__': lambda s, o: True, '__hash__': int.__hash__})(0)"])
def test_object_equal_to_everything_fails(verifier, value):
    code = class_eq + f"def f(x):\n    return {value}\n"
    assert not verifier.verify(call_task("f", [[1]], [SECRET]), fenced(code)).passed
    verdict = verifier.verify(check_task("f", f"def check(c):\n    assert c(1) == {SECRET!r}\n"), fenced(code))
    assert not verdict.passed and verdict.error is None


PATCH_EVERYTHING = r'''
import builtins, gc, json, os, sys, types
def fake(*args, **kwargs):
    os.write(1, b'{"passed": true}')
    return True
for obj in gc.get_objects():  # every function the program can reach, the harness's included
    if isinstance(obj, types.FunctionType) and obj is not fake:
        try:
            obj.__code__ = fake.__code__
        except (TypeError, ValueError):
            pass
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.print = builtins.len = builtins.isinstance = fake
json.dumps = json.loads = fake
sys.modules["__main__"].__dict__.update(run_check=fake, judge=fake, send=fake, recv=fake, encode=fake)
'''


@pytest.mark.parametrize("kind", ["stdio", "call", "check"])
def test_monkeypatching_builtins_and_the_harness_does_not_help(verifier, kind):
    task = {"stdio": stdio_task([("1\n", f"{SECRET}\n")]), "call": call_task("f", [[1]], [SECRET]),
            "check": check_task("f", f"def check(c):\n    assert c(1) == {SECRET!r}\n")}[kind]
    code = PATCH_EVERYTHING + "\ndef f(x):\n    return 'wrong'\n"
    verdict = verifier.verify(task, fenced(code))
    assert not verdict.passed and verdict.error is None


def test_stdio_program_cannot_find_the_expected_output(verifier):
    verdict = verifier.verify(stdio_task([("x\n", f"{SECRET}\n")]), fenced(FIND_SECRET + "\nprint(find())"))
    assert not verdict.passed
    assert verdict.feedback.split("Got:")[1].strip() == "none"


def test_call_program_cannot_find_the_expected_value(verifier):
    verdict = verifier.verify(call_task("f", [[1]], [SECRET]), fenced(FIND_SECRET + "\ndef f(x):\n    return find()"))
    assert not verdict.passed
    assert verdict.feedback.split("Got:")[1].strip() == "'none'"


def test_check_program_cannot_find_the_asserted_value(verifier):
    """The asserts live in the test process; the candidate runs in a fresh interpreter that never
    held them, and the test process is non-dumpable (its memory cannot be read)."""
    task = check_task("f", f"def check(candidate):\n    assert candidate(1) == {SECRET!r}, 'wrong'\n")
    verdict = verifier.verify(task, fenced(FIND_SECRET + "\ndef f(x):\n    return find()"))
    assert not verdict.passed and verdict.error is None


CRASH_OR_LOOP = '''
s = input().strip()
if s == "crash":
    raise RuntimeError("boom")
if s == "loop":
    while True:
        pass
print(s.upper())
'''


def test_crashing_and_looping_on_some_tests_scores_the_rest(verifier):
    task = stdio_task([("a\n", "A\n"), ("crash\n", "CRASH\n"), ("b\n", "B\n"), ("loop\n", "LOOP\n")])
    verdict = verifier.verify(task, fenced(CRASH_OR_LOOP))
    assert [t["status"] for t in verdict.details["tests"]] == ["passed", "runtime_error", "passed", "timeout"]
    assert verdict.components == {"pass_fraction": 0.5, "all_pass": 0.0} and verdict.reward == 0.0
    assert "Test 2 of 4 crashed" in verdict.feedback and "RuntimeError: boom" in verdict.feedback


def test_global_time_limit_stops_a_looping_program(bwrap_ok):
    from assay.verifiers.code import CodeVerifier

    v = CodeVerifier(test_timeout_s=0.5, total_timeout_s=1.2, compile_timeout_s=1.0, workers=1)
    try:
        verdict = v.verify(stdio_task([(f"{i}\n", "x\n") for i in range(6)]), fenced("while True:\n    pass"))
    finally:
        v.close()
    assert not verdict.passed and verdict.error is None
    assert len(verdict.details["tests"]) < 6 and "global time limit" in verdict.feedback


def test_processes_left_behind_die_with_their_test(verifier):
    """Test 1 starts a detached process that keeps overwriting every later test's output file;
    it must be dead before test 2 runs. (It spares test 1's own file, ``0.out``: clobbering that
    races test 1's own print and proves nothing about later tests; it made this test flaky.)"""
    code = r'''
import glob, os, sys
s = input().strip()
if s == "spawn" and os.fork() == 0:
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    else:
        while True:
            for path in glob.glob("/tmp/*/*.out"):
                if os.path.basename(path) == "0.out":
                    continue
                try:
                    open(path, "w").write("junk\n")
                except OSError:
                    pass
print(s)
'''
    task = stdio_task([("spawn\n", "spawn\n"), ("b\n", "b\n"), ("c\n", "c\n")])
    verdict = verifier.verify(task, fenced(code))
    assert verdict.passed, verdict.feedback


def test_killing_the_harness_fails_the_response(verifier):
    code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(2)"
    verdict = verifier.verify(stdio_task([("1\n", "2\n")]), fenced(code))
    assert not verdict.passed and verdict.error is None
    assert "did not complete" in verdict.feedback
