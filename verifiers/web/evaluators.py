"""The checks behind a web task's reward: answer strings, the final URL, page content, database.

Each check reads only what the site itself holds (the answer the agent submitted through
``answer(text)``, the last page the server served as a top-level document, pages the server
serves now, rows in its database), never the agent's browser: page JavaScript can rewrite the
DOM, the address bar (``history.pushState``) and storage, so none of those reach the reward.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from urllib.parse import parse_qsl, unquote, urlsplit

from assay.verifiers.web.html_tree import parse, select
from assay.verifiers.web.spec import DbCheck, HtmlCheck, StringReference

FUZZY_THRESHOLD = 0.85  # difflib ratio; "Blue T-shirt (L)" vs "blue t shirt, L" passes, "Red T-shirt" does not
STUFFING_SLACK = 40  # characters an answer may run past twice the reference text before it counts as stuffing


def normalize(text: str) -> str:
    """Case, surrounding quotes/punctuation and runs of whitespace do not matter."""
    text = " ".join(text.casefold().split())
    return text.strip(" \"'`.;:!")


def _number(text: str) -> float | None:
    cleaned = re.sub(r"^[$€£]|(?<=\d),(?=\d{3})", "", text.strip())
    try:
        return float(cleaned)
    except ValueError:
        return None


def exact_match(answer: str, reference: str) -> bool:
    a, r = normalize(answer), normalize(reference)
    if a == r:
        return True
    na, nr = _number(a), _number(r)
    return na is not None and nr is not None and abs(na - nr) < 1e-9


def _contains(haystack: str, needle: str) -> bool:
    """Whole-token containment: "12" is not found inside "120", "cat" not inside "category"."""
    pattern = r"(?<![\w])" + re.escape(normalize(needle)) + r"(?![\w])"
    return re.search(pattern, normalize(haystack)) is not None


def check_string(answer: str, ref: StringReference, *, cap_length: bool = True) -> tuple[bool, str]:
    """``(passed, why)`` for an answer (or page text) against a reference.

    ``cap_length`` guards the agent's answer against stuffing (it is off for page text, which is
    long by nature and written by the site, not by the agent).
    """
    if ref.must_exclude:
        hit = next((x for x in ref.must_exclude if _contains(answer, x)), None)
        if hit is not None:
            return False, f"contains {hit!r}, which the correct answer does not"
    if cap_length:
        budget = 2 * sum(len(normalize(x)) for x in (ref.exact_match or "", *ref.must_include, *ref.fuzzy_match)) + STUFFING_SLACK
        if len(normalize(answer)) > budget:
            return False, f"answer is {len(normalize(answer))} characters, more than {budget} for this question"
    if ref.exact_match is not None and not exact_match(answer, ref.exact_match):
        return False, "does not equal the expected answer"
    missing = [x for x in ref.must_include if not _contains(answer, x)]
    if missing:
        return False, f"misses {len(missing)} of {len(ref.must_include)} required item(s)"
    for x in ref.fuzzy_match:
        if difflib.SequenceMatcher(None, normalize(answer), normalize(x)).ratio() < FUZZY_THRESHOLD and not _contains(answer, x):
            return False, "is not close enough to the expected answer"
    return True, "matches"


def _canonical(url: str) -> tuple[str, Counter]:
    parts = urlsplit(url)
    path = unquote(parts.path).rstrip("/") or "/"
    # empty parameters are what an untouched form field submits: ?q=&dept=Sales is ?dept=Sales
    query = Counter((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != "")
    return path, query


def url_matches(url: str, references: tuple[str, ...]) -> bool:
    """The path must be equal (not a prefix: /product/12 is not /product/123) and the non-empty
    query parameters equal as a multiset (order does not matter, extra filters do)."""
    got = _canonical(url)
    return any(got == _canonical(ref) for ref in references)


def check_html(page_html: str, check: HtmlCheck) -> tuple[bool, str]:
    root = parse(page_html)
    if check.locator:
        nodes = select(root, check.locator)
        if not nodes:
            return False, f"no element matches {check.locator!r}"
        text = " ".join(n.text() for n in nodes)
    else:
        body = next((n for n in root.elements() if n.tag == "body"), root)
        text = body.text()
    ok, why = check_string(text, check.required, cap_length=False)
    return ok, f"{check.locator or 'page'}: {why}"


def check_db(rows: list[tuple], check: DbCheck) -> tuple[bool, str]:
    got = [tuple(r) for r in rows]
    want = [tuple(r) for r in check.expected]
    ok = got == want if check.ordered else Counter(got) == Counter(want)
    return ok, "rows as expected" if ok else f"expected {want!r:.200}, found {got!r:.200}"
