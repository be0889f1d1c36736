"""WebArena's task ``eval`` block, read into frozen values, plus assay's database checks.

A web task's gold (``Task.answer``) is ``{"site": str, "start_url": str, "eval": {...}}``. The
``eval`` block follows WebArena's config format::

    {"eval_types": ["string_match", "url_match", "program_html", "db_state"],
     "reference_answers": {"exact_match": str} | {"must_include": [str, ...]} | {"fuzzy_match": [...]},
     "reference_url": "/path?query" (alternatives joined by " |OR| "),
     "program_html": [{"url": "last" | "/path", "locator": "css selector" | "",
                       "required_contents": {"exact_match": str} | {"must_include": [str, ...]}}],
     "db_state": [{"sql": "SELECT ...", "expected": [[...], ...], "ordered": false}]}

Departures from WebArena, each for a reason:
- ``reference_url`` and ``program_html`` URLs are paths on the task's site (the port changes every
  episode); WebArena writes ``__SHOPPING__/...`` placeholders.
- ``program_html`` locators are CSS selectors read from the page the site serves, never
  JavaScript run in the agent's page (page script could rewrite that page).
- ``fuzzy_match`` is a string-similarity test, not an LLM judge (deterministic and offline).
- ``reference_answers`` may add ``must_exclude``: distractor strings whose presence fails the
  answer, so a reply that lists every candidate does not pass ``must_include``.
- ``db_state`` is new: SQL run read-only on the site's database after the episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EVAL_TYPES = ("string_match", "url_match", "program_html", "db_state")


class SpecError(ValueError):
    """The task's eval block is malformed (a gold problem, not a model problem)."""


@dataclass(frozen=True)
class StringReference:
    exact_match: str | None = None
    must_include: tuple[str, ...] = ()
    fuzzy_match: tuple[str, ...] = ()
    must_exclude: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str) -> StringReference:
        if not isinstance(data, dict) or not data:
            raise SpecError(f"{where}: expected a dict with exact_match / must_include / fuzzy_match, got {data!r:.80}")
        unknown = set(data) - {"exact_match", "must_include", "fuzzy_match", "must_exclude"}
        if unknown:
            raise SpecError(f"{where}: unknown keys {sorted(unknown)}")
        exact = data.get("exact_match")
        if exact is not None and not isinstance(exact, str):
            raise SpecError(f"{where}.exact_match must be a string, got {exact!r}")
        ref = cls(exact, _strings(data.get("must_include", ()), f"{where}.must_include"),
                  _strings(data.get("fuzzy_match", ()), f"{where}.fuzzy_match"),
                  _strings(data.get("must_exclude", ()), f"{where}.must_exclude"))
        if ref.exact_match is None and not ref.must_include and not ref.fuzzy_match:
            raise SpecError(f"{where}: give exact_match, must_include or fuzzy_match")
        return ref


@dataclass(frozen=True)
class HtmlCheck:
    url: str  # "last" (the page the episode ended on) or a path on the site
    locator: str  # CSS selector; "" means the whole page
    required: StringReference


@dataclass(frozen=True)
class DbCheck:
    sql: str
    expected: tuple[tuple, ...]
    ordered: bool = False


@dataclass(frozen=True)
class EvalSpec:
    eval_types: tuple[str, ...]
    reference: StringReference | None = None
    reference_urls: tuple[str, ...] = ()
    program_html: tuple[HtmlCheck, ...] = ()
    db_state: tuple[DbCheck, ...] = ()

    @property
    def needs_site(self) -> bool:
        return any(t != "string_match" for t in self.eval_types)

    @classmethod
    def from_config(cls, data: Any) -> EvalSpec:
        if not isinstance(data, dict):
            raise SpecError(f"eval must be a dict, got {type(data).__name__}")
        types = data.get("eval_types")
        if not isinstance(types, list) or not types or any(t not in EVAL_TYPES for t in types):
            raise SpecError(f"eval.eval_types must be a non-empty list of {EVAL_TYPES}, got {types!r}")
        reference = None
        if "string_match" in types:
            reference = StringReference.from_dict(data.get("reference_answers"), "eval.reference_answers")
        urls: tuple[str, ...] = ()
        if "url_match" in types:
            raw = data.get("reference_url")
            if not isinstance(raw, str) or not raw.strip():
                raise SpecError("eval.reference_url must be a non-empty path when eval_types has url_match")
            urls = tuple(u.strip() for u in raw.split(" |OR| "))
            if any(not u.startswith("/") for u in urls):
                raise SpecError(f"eval.reference_url paths must start with '/', got {raw!r}")
        html: list[HtmlCheck] = []
        if "program_html" in types:
            items = data.get("program_html")
            if not isinstance(items, list) or not items:
                raise SpecError("eval.program_html must be a non-empty list when eval_types has program_html")
            for i, item in enumerate(items):
                where = f"eval.program_html[{i}]"
                if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                    raise SpecError(f"{where}: needs a url ('last' or a path)")
                locator = item.get("locator", "")
                if not isinstance(locator, str):
                    raise SpecError(f"{where}.locator must be a CSS selector string")
                if locator:
                    from assay.verifiers.web.html_tree import compile_selector

                    try:
                        compile_selector(locator)
                    except ValueError as e:
                        raise SpecError(f"{where}: {e}") from None
                html.append(HtmlCheck(item["url"], locator,
                                      StringReference.from_dict(item.get("required_contents"), f"{where}.required_contents")))
        checks: list[DbCheck] = []
        if "db_state" in types:
            items = data.get("db_state")
            if not isinstance(items, list) or not items:
                raise SpecError("eval.db_state must be a non-empty list when eval_types has db_state")
            for i, item in enumerate(items):
                where = f"eval.db_state[{i}]"
                if not isinstance(item, dict) or not isinstance(item.get("sql"), str):
                    raise SpecError(f"{where}: needs sql (a SELECT statement)")
                expected = item.get("expected")
                if not isinstance(expected, list) or any(not isinstance(r, list) for r in expected):
                    raise SpecError(f"{where}.expected must be a list of rows (lists)")
                checks.append(DbCheck(item["sql"], tuple(tuple(r) for r in expected), bool(item.get("ordered", False))))
        return cls(tuple(types), reference, urls, tuple(html), tuple(checks))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or any(not isinstance(v, str) or not v.strip() for v in value):
        raise SpecError(f"{where} must be a list of non-empty strings, got {value!r:.80}")
    return tuple(value)
