"""``assay/swe-v0``: fix a bug in a real repository with tools, graded as SWE-bench grades.

An episode is one sandbox session (bwrap by default, Docker with ``backend="docker"``) holding the
task's repository at its base commit in /work. Each ``step(action)`` runs the first tool call in
the action (``envs/swe/tools.py`` documents the text format and has the JSON schema):
``shell``, ``view``, ``search``, ``str_replace``, ``create``, ``submit``. The observation is the
tool's output; a malformed call gets an error observation and costs a step.

``submit`` takes the working tree's changes (``git diff`` against the base commit, computed
against the read-only pristine ``.git`` so nothing the agent does to ``/work/.git`` can change
it; caches and ``*.pyc`` left out) or an explicit ``patch`` argument, and the ``swe`` verifier
grades it in a fresh session; the reward is 1.0 when the task is resolved. The episode also
ends, with the current changes graded and ``truncated=True``, when a budget runs out:
``max_steps`` tool calls, ``max_tokens`` (actions plus observations, estimated at 4 characters a
token unless ``count_tokens`` is given), or ``max_format_errors`` malformed calls in a row.

Tasks: the shipped set (``envs/data/swe/tasks.jsonl``, made by ``assay swe make-tasks`` from two
PyPI sdists) unless ``path=`` (any SWE-bench-style JSONL) or ``source=`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium

from assay.envs.single_turn import SingleTurnEnv
from assay.envs.sources import ListSource, TaskSource
from assay.envs.swe.tools import TOOL_SCHEMAS, CallError, ToolCall, format_call, instructions, parse_call
from assay.errors import AssayError
from assay.sandbox import Limits
from assay.types import Task, Verdict

_DIFF = ("rm -rf /tmp/.assay_pristine.git && cp -R {src}/.git /tmp/.assay_pristine.git && "
         "export GIT_DIR=/tmp/.assay_pristine.git GIT_WORK_TREE=/work && "
         "git -c core.hooksPath=/dev/null -c core.fileMode=false add -A -- . ':(exclude,glob)**/__pycache__/**' ':(exclude,glob)**/*.pyc' "
         "':(exclude,glob)**/.pytest_cache/**' && "
         "git -c core.hooksPath=/dev/null -c core.fileMode=false diff --cached --no-color --no-ext-diff --no-textconv HEAD")


def builtin_tasks() -> ListSource:
    from assay.envs.swe.tasks import shipped_tasks

    return ListSource(shipped_tasks(), name="swe_tasks")


class SWEEnv(SingleTurnEnv):
    def __init__(self, backend: str = "bwrap", image: str | None = None, max_steps: int = 40,
                 max_tokens: int = 65536, max_format_errors: int = 3, shell_timeout_s: float = 30.0,
                 max_output_chars: int = 6000, path: str | None = None, source: TaskSource | list | None = None,
                 count_tokens: Callable[[str], int] | None = None, **kwargs: Any):
        for name, value in (("max_steps", max_steps), ("max_tokens", max_tokens), ("max_format_errors", max_format_errors)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AssayError(f"{name} must be an int >= 1, got {value!r}")
        if path is not None and source is not None:
            raise AssayError("give one task source: path= or source=, not both")
        if path is not None:
            from assay.envs.swe.tasks import to_task
            from assay.verifiers.swe.instance import load_instances

            source = ListSource([to_task(i) for i in load_instances(path)], name=str(path))
        elif source is None:
            source = builtin_tasks()
        elif isinstance(source, list):
            source = ListSource(source)
        super().__init__(verifier="swe", source=source,
                         verifier_options={"backend": backend, **({"image": image} if image else {})}, **kwargs)
        self.backend, self.image = backend, image
        self.max_steps, self.max_tokens, self.max_format_errors = max_steps, max_tokens, max_format_errors
        self.shell_limits = Limits(wall_s=shell_timeout_s, cpu_s=shell_timeout_s, memory_mb=2048, pids=128,
                                   output_bytes=1 << 20, disk_mb=512)
        self.max_output_chars = max_output_chars
        self.count_tokens = count_tokens
        self._opened = None
        self._steps = self._tokens = self._format_errors = 0
        self._transcript: list[dict] = []
        self.setup_s = 0.0

    # -- episode --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        from assay.verifiers.swe.instance import from_record
        from assay.verifiers.swe.workspace import Runtime, open_workspace

        self._close_session()
        _, info = super().reset(seed=seed, options=options)
        self._instance = from_record(self._task.answer)
        self._opened = open_workspace(self._instance, Runtime(self.backend, self.image))
        self.setup_s = self._opened.setup_s
        self._steps = self._tokens = self._format_errors = 0
        obs = f"{instructions()}\n\n<issue>\n{self.prompt_text(self._task)}\n</issue>"
        self._tokens += self._count(obs)
        self._transcript = [*self.system_messages(), {"role": "user", "content": obs}]
        # ``tools``: the JSON schema, for chat templates of function-calling models (``tools=``)
        return obs, {"task": self._task, "messages": list(self._transcript), "tools": TOOL_SCHEMAS}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        if not isinstance(action, str):
            raise TypeError(f"the action is the model's response text (str), got {type(action).__name__}")
        self._steps += 1
        self._tokens += self._count(action)
        self._transcript.append({"role": "assistant", "content": action})
        call = parse_call(action[: self.action_space.max_length])
        if isinstance(call, ToolCall) and call.name == "submit":
            patch = call.arguments.get("patch")
            return self._finish(patch if patch is not None else self._diff(), truncated=False)
        if isinstance(call, CallError):
            self._format_errors += 1
            obs = f"error: {call.message}"
        else:
            self._format_errors = 0
            obs = self._run_tool(call)
        self._tokens += self._count(obs)
        why = ("steps" if self._steps >= self.max_steps else "tokens" if self._tokens >= self.max_tokens
               else "malformed calls" if self._format_errors >= self.max_format_errors else None)
        if why is not None:
            return self._finish(self._diff(), truncated=True, why=why)
        self._transcript.append({"role": "user", "content": obs})
        info = {"task": self._task, "messages": list(self._transcript), "tool": getattr(call, "name", None),
                "steps": self._steps, "tokens": self._tokens}
        return obs, 0.0, False, False, info

    def _finish(self, patch: str, truncated: bool, why: str | None = None):
        self._close_session()
        verdict: Verdict = self.verifier.verify(self._task, patch)
        self._done, self._last = True, (patch, verdict)
        info = {"task": self._task, "verdict": verdict, "patch": patch, "messages": list(self._transcript),
                "steps": self._steps, "tokens": self._tokens, "provenance": self.provenance()}
        if why:
            info["budget_exhausted"] = why
        return "", float(verdict.reward), not truncated, truncated, info

    def gold_response(self, task: Task) -> str:
        return format_call("submit", patch=task.answer["patch"])

    # -- tools ----------------------------------------------------------------------------
    def _session(self):
        return self._opened.session

    def _run_tool(self, call: ToolCall) -> str:
        a = call.arguments
        try:
            if call.name == "shell":
                return self._shell(["sh", "-c", a["command"]])
            if call.name == "search":
                return self._shell(["grep", "-rnIE", "--exclude-dir=.git", "-e", a["pattern"], "--", a.get("path", ".")],
                                   empty="no matches")
            if call.name == "view":
                return self._view(a["path"], a.get("start"), a.get("end"))
            if call.name == "str_replace":
                return self._str_replace(a["path"], a["old"], a["new"])
            if call.name == "create":
                return self._create(a["path"], a["content"])
        except (ValueError, OSError) as e:  # bad paths, missing files: the agent's mistake, told back
            return f"error: {e}"
        return f"error: tool {call.name} is not available"

    def _shell(self, cmd: list[str], empty: str = "") -> str:
        r = self._session().run(cmd, limits=self.shell_limits)
        out = (r.stdout + (b"\n" + r.stderr if r.stderr else b"")).decode(errors="replace")
        if len(out) > self.max_output_chars:
            half = self.max_output_chars // 2
            out = f"{out[:half]}\n[... {len(out) - 2 * half} characters cut ...]\n{out[-half:]}"
        note = f"[timed out after {self.shell_limits.wall_s:g} s]\n" if r.timed_out else ""
        return f"{note}{out or empty}\n[exit code {r.exit_code}]" if cmd[0] == "sh" else f"{note}{out or empty}"

    @staticmethod
    def _rel(path: str) -> str:
        path = path.strip()
        if path.startswith("/work/") or path == "/work":
            path = path[len("/work"):].lstrip("/")
        return path.rstrip("/") or "."

    def _read(self, path: str) -> str:
        return self._session().read_file(self._rel(path)).decode(errors="replace")

    def _view(self, path: str, start: int | None, end: int | None) -> str:
        rel = self._rel(path)
        is_dir = self._session().run(["test", "-d", rel]).exit_code == 0
        if is_dir:
            return self._shell(["ls", "-1ap", "--", rel])
        lines = self._read(rel).splitlines()
        lo = max(1, start or 1)
        hi = min(len(lines), end or len(lines))
        body = "\n".join(f"{i:6d}\t{lines[i - 1]}" for i in range(lo, hi + 1))
        if len(body) > self.max_output_chars:
            body = body[: self.max_output_chars] + "\n[... cut: view a smaller range ...]"
        return body or f"({rel} has {len(lines)} lines; nothing in {lo}..{hi})"

    def _str_replace(self, path: str, old: str, new: str) -> str:
        text = self._read(path)
        n = text.count(old) if old else 0
        if n != 1:
            return (f"error: `old` occurs {n} times in {path}; it must occur exactly once "
                    f"({'add surrounding lines to make it unique' if n else 'copy it exactly, whitespace included'})")
        updated = text.replace(old, new, 1)
        self._session().write_file(self._rel(path), updated.encode())
        line = text[: text.index(old)].count("\n") + 1
        return f"edited {path}:\n" + self._view(path, max(1, line - 3), line + new.count("\n") + 3)

    def _create(self, path: str, content: str) -> str:
        rel = self._rel(path)
        if self._session().run(["test", "-e", rel]).exit_code == 0:
            return f"error: {path} exists; use str_replace to edit it"
        self._session().write_file(rel, content.encode())
        return f"created {path} ({content.count(chr(10)) + 1} lines)"

    def _diff(self) -> str:
        if self._opened is None:
            return ""
        script = _DIFF.format(src=self._opened.source_dir)
        r = self._session().run(["sh", "-c", script], limits=self.shell_limits)
        return r.text() if r.exit_code == 0 else ""

    def _count(self, text: str) -> int:
        return self.count_tokens(text) if self.count_tokens else (len(text) + 3) // 4

    # -- lifetime -------------------------------------------------------------------------
    def _close_session(self) -> None:
        if self._opened is not None:
            self._opened.session.close()
            self._opened = None

    def close(self) -> None:
        self._close_session()
        super().close()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_opened"] = None  # a live sandbox does not travel; reset() opens a new one
        return state
