"""The SWE agent's tools: their JSON schema, the text format a model writes calls in, and the parser.

Text format (one call per turn; the first call in a response runs). Either JSON inside tags, as
Hermes/Qwen function-calling templates emit it:

    <tool_call>
    {"name": "view", "arguments": {"path": "pkg/mod.py", "start": 10, "end": 40}}
    </tool_call>

or the XML form of OpenHands / Qwen3-Coder, which needs no escaping for code:

    <function=str_replace>
    <parameter=path>pkg/mod.py</parameter>
    <parameter=old>    if x < 0:</parameter>
    <parameter=new>    if x <= 0:</parameter>
    </function>

A function-calling model gets :data:`TOOL_SCHEMAS` (OpenAI ``tools`` format) and its calls can be
passed to the env as the ``<tool_call>`` JSON. A call that cannot be parsed, names no known tool,
or lacks a required argument gives a :class:`CallError` whose message becomes the observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


_STR, _INT = {"type": "string"}, {"type": "integer"}
TOOL_SCHEMAS: list[dict] = [
    _tool("shell", "Run a shell command (sh -c) in the repository root; time-limited, output truncated.",
          {"command": {**_STR, "description": "the command line"}}, ["command"]),
    _tool("view", "Show a file with line numbers (optionally lines start..end, 1-based, inclusive), or list a directory.",
          {"path": _STR, "start": _INT, "end": _INT}, ["path"]),
    _tool("search", "Search file contents for an extended regular expression (grep -rnE); lists file:line:text.",
          {"pattern": _STR, "path": {**_STR, "description": "file or directory (default: the repository)"}}, ["pattern"]),
    _tool("str_replace", "Replace the one exact occurrence of `old` in a file with `new` (fails if `old` occurs 0 or 2+ times).",
          {"path": _STR, "old": _STR, "new": _STR}, ["path", "old", "new"]),
    _tool("create", "Create a new file with the given content (fails if it exists; use str_replace to edit).",
          {"path": _STR, "content": _STR}, ["path", "content"]),
    _tool("submit", "End the episode: your changes to the repository (or `patch`, a unified diff, if given) are graded.",
          {"patch": {**_STR, "description": "optional unified diff to grade instead of the working tree's changes"}}, []),
]
_SPECS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOL_SCHEMAS}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CallError:
    message: str


_JSON_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_XML_CALL = re.compile(r"<function=([\w.-]+)>(.*?)</function>", re.S)
_XML_PARAM = re.compile(r"<parameter=([\w.-]+)>\n?(.*?)\n?</parameter>", re.S)


def parse_call(text: str) -> ToolCall | CallError:
    """The first tool call in a model's response, checked against the schema."""
    if not isinstance(text, str):
        return CallError("the action must be text")
    found = [(m.start(), "json", m) for m in _JSON_CALL.finditer(text)] + [(m.start(), "xml", m) for m in _XML_CALL.finditer(text)]
    if not found:
        return CallError("no tool call found. Call a tool as <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call> "
                         "or <function=NAME><parameter=KEY>value</parameter></function>; call submit when done.")
    _, kind, m = min(found, key=lambda f: f[0])
    if kind == "json":
        try:
            data = json.loads(m.group(1))
        except ValueError as e:
            return CallError(f"the tool call is not valid JSON: {e}")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return CallError('a <tool_call> must hold {"name": "...", "arguments": {...}}')
        args = data.get("arguments", {})
        if isinstance(args, str):  # some chat templates send arguments as a JSON string
            try:
                args = json.loads(args)
            except ValueError as e:
                return CallError(f"arguments is a string but not JSON: {e}")
        name = data["name"]
    else:
        name, args = m.group(1), {k: v for k, v in _XML_PARAM.findall(m.group(2))}
    return _check(name, args)


def _check(name: str, args: Any) -> ToolCall | CallError:
    if name not in _SPECS:
        return CallError(f"unknown tool {name!r}; the tools are: {', '.join(_SPECS)}")
    if not isinstance(args, dict):
        return CallError(f"{name}: arguments must be an object")
    spec = _SPECS[name]
    missing = [k for k in spec["required"] if k not in args]
    if missing:
        return CallError(f"{name}: missing argument(s) {', '.join(missing)}")
    unknown = [k for k in args if k not in spec["properties"]]
    if unknown:
        return CallError(f"{name}: unknown argument(s) {', '.join(unknown)}; expected {', '.join(spec['properties'])}")
    out = {}
    for k, v in args.items():
        want = spec["properties"][k]["type"]
        if want == "integer":
            try:
                v = int(v)
            except (TypeError, ValueError):
                return CallError(f"{name}: {k} must be an integer, got {v!r}")
        elif not isinstance(v, str):
            return CallError(f"{name}: {k} must be a string")
        out[k] = v
    return ToolCall(name, out)


def format_call(name: str, **arguments: Any) -> str:
    """A call in the text format (what a model would write)."""
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def instructions() -> str:
    lines = ["You are working in a git repository (the current directory). Fix the issue below by editing the "
             "library code; the hidden tests decide whether it is resolved. Each turn, call exactly one tool:",
             ""]
    for t in TOOL_SCHEMAS:
        f = t["function"]
        params = ", ".join(f"{k}{'' if k in f['parameters']['required'] else '?'}" for k in f["parameters"]["properties"])
        lines.append(f"- {f['name']}({params}): {f['description']}")
    lines += ["", "Write a call as", format_call("view", path="README.rst", start=1, end=20),
              "or, for code with quotes and newlines,",
              "<function=str_replace>\n<parameter=path>pkg/mod.py</parameter>\n<parameter=old>old text</parameter>\n"
              "<parameter=new>new text</parameter>\n</function>"]
    return "\n".join(lines)
