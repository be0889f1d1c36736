"""The SWE grader's driver; runs inside the sandbox as ``python3 -S grade_driver.py`` (stdlib only).

Reads its job as JSON on stdin, works in /work (the repository at the base commit) and prints
one line ``<nonce> <json>``. Steps, as SWE-bench does them:

1. apply the model patch: ``git apply``, then ``git apply --3way``, then ``patch --fuzz``;
2. revert every change to a test file (test modules, conftest.py, test directories, pytest
   configuration) and remove new ones, so a submission cannot rewrite or add the tests or
   plugins that judge it;
3. apply the test patch the same way;
4. run pytest on the FAIL_TO_PASS and PASS_TO_PASS ids with third-party plugin autoloading off
   and ``assay_swe_report`` writing outcomes to a fresh file; pytest's real exit status comes
   from ``waitpid``, which no code under test can change after the fact.

The driver makes itself non-dumpable before anything of the submission runs, so processes of the
same uid (the code under test) cannot read its memory, stdin or fds through /proc: the nonce that
marks its answer stays secret, and a line the code under test writes to the session's stdout
cannot pass for the driver's answer.
"""

import ctypes
import json
import os
import secrets
import subprocess
import sys

GIT = ["git", "-c", "core.hooksPath=/dev/null", "-c", "user.name=assay", "-c", "user.email=assay@localhost",
       "-c", "safe.directory=*"]
TEST_DIRS = {"test", "tests", "testing"}
TEST_CONFIG = {"conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, **kw)


def is_test_file(path):
    parts = path.split("/")
    name = parts[-1]
    return (name in TEST_CONFIG or name.startswith("test_") or name.endswith("_test.py")
            or any(p in TEST_DIRS for p in parts[:-1]))


def apply(patch_path, base):
    """Apply a patch with SWE-bench's fallbacks; the tree is reset between tries."""
    tries = [("git apply", GIT + ["apply", "--whitespace=nowarn", patch_path]),
             ("git apply --3way", GIT + ["apply", "--3way", "--whitespace=nowarn", patch_path]),
             ("patch --fuzz", ["patch", "--batch", "--forward", "--no-backup-if-mismatch", "--fuzz=5", "-p1", "-i", patch_path])]
    errors = []
    for name, cmd in tries:
        r = run(cmd)
        if r.returncode == 0:
            return name, ""
        errors.append(f"{name}: {(r.stderr or r.stdout).decode(errors='replace').strip()[-300:]}")
        run(GIT + ["reset", "-q", "--hard", base])
        run(GIT + ["clean", "-q", "-fd"])
    return None, "\n".join(errors)


def changed_files(base):
    run(GIT + ["add", "-A", "-f"])
    r = run(GIT + ["diff", "--cached", "--name-status", "--no-renames", "-z", base])
    fields = r.stdout.decode(errors="surrogateescape").split("\0")
    return [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def revert_test_files(base, keep=()):
    reverted = []
    for status, path in changed_files(base):
        if not is_test_file(path) or path in keep:
            continue
        if status == "A":
            run(GIT + ["rm", "-q", "-f", "--cached", "--", path])
            if os.path.lexists(path):
                os.remove(path)
        else:
            run(GIT + ["checkout", base, "--", path])
        reverted.append(path)
    run(GIT + ["reset", "-q"])
    return reverted


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    job = json.loads(sys.stdin.read())
    nonce, gdir = job["nonce"], job["grade_dir"]
    os.chdir("/work")
    # the snapshot is checked out at the task's base commit; HEAD also covers plain-directory
    # sources, whose commit the task file cannot know in advance
    base = run(GIT + ["rev-parse", "HEAD"]).stdout.decode().strip() or job["base_commit"]
    out = {"applied": None, "test_patch_applied": None, "reverted": [], "report": None, "exit_code": None}
    try:
        # the tree was copied in, so every file's stat data differs from the index: refresh it,
        # or `git apply --3way` refuses files that "do not match the index"
        run(GIT + ["update-index", "-q", "--refresh"])
        if job["model_patch"]:
            out["applied"], out["apply_error"] = apply(os.path.join(gdir, "model.patch"), base)
            if out["applied"] is None:
                return out
        out["reverted"] = revert_test_files(base)
        if job["test_patch"]:
            out["test_patch_applied"], out["test_patch_error"] = apply(os.path.join(gdir, "test.patch"), base)
            if out["test_patch_applied"] is None:
                return out
        report = os.path.join(gdir, f"report-{secrets.token_hex(8)}.json")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "LANG": "C.UTF-8",
               # pytest's runtime ahead of the repository: a repo file named pytest.py, _pytest/ or
               # pluggy.py must not replace the runner (and -P keeps the cwd off sys.path)
               "PYTHONPATH": ":".join([gdir, job["pylib"], *job["python_path"]]), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "ASSAY_SWE_REPORT": report}
        cmd = [sys.executable, "-S", "-P", "-m", "pytest", "-p", "assay_swe_report", "-p", "no:cacheprovider",
               "-o", "addopts=", "-rfE", "--tb=short", "-q", "--", *job["tests"]]
        try:
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=job["timeout_s"],
                               close_fds=True)
            out["exit_code"], log = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            out["timed_out"], log = True, (e.stdout or b"") + (e.stderr or b"")
        out["log"] = log.decode(errors="replace")[-job["log_bytes"]:]
        try:
            with open(report) as f:
                out["report"] = json.load(f)
        except (OSError, ValueError):
            out["report"] = None
        return out
    finally:
        sys.stdout.write(f"\n{nonce} {json.dumps(out)}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
