"""The web verifier: WebArena eval specs, string/URL/page/database checks, and their attacks."""

from __future__ import annotations

import pytest

import assay.verifiers
from assay import Task, Verdict
from assay.verifiers.web.evaluators import check_html, check_string, exact_match, url_matches
from assay.verifiers.web.html_tree import parse, select
from assay.verifiers.web.spec import EvalSpec, HtmlCheck, SpecError, StringReference
from assay.verifiers.web.verifier import SiteState, WebVerifier


def web_task(eval_block: dict, tid: str = "t") -> Task:
    return Task(tid, "question", answer={"site": "shop", "start_url": "/", "eval": eval_block}, domain="web")


def test_registered_and_accepts_its_own_gold():
    verifier = assay.verifiers.get("web")
    assert isinstance(verifier, WebVerifier)
    task = web_task({"eval_types": ["string_match"], "reference_answers": {"exact_match": "Ceramic Mug"}})
    assert verifier.self_check(task).passed


@pytest.mark.parametrize("block, fragment", [
    ({"eval_types": ["magic"]}, "eval_types"),
    ({"eval_types": ["string_match"]}, "reference_answers"),
    ({"eval_types": ["url_match"], "reference_url": "http://elsewhere/x"}, "start with '/'"),
    ({"eval_types": ["program_html"], "program_html": [{"url": "last", "locator": "div > p",
                                                         "required_contents": {"exact_match": "x"}}]}, "unsupported selector"),
    ({"eval_types": ["db_state"], "db_state": [{"sql": "SELECT 1", "expected": "1"}]}, "list of rows"),
])
def test_malformed_specs_are_refused_with_the_reason(block, fragment):
    with pytest.raises(SpecError, match=fragment):
        EvalSpec.from_config(block)
    verdict = WebVerifier().verify(web_task(block), "anything")
    assert verdict.error and "malformed gold" in verdict.error and not verdict.passed


def test_exact_match_ignores_case_space_quotes_and_number_format():
    assert exact_match('  "ceramic   MUG". ', "Ceramic Mug")
    assert exact_match("89", "$89.00") and exact_match("$1,200", "1200")
    assert not exact_match("Ceramic Mugs", "Ceramic Mug") and not exact_match("89.01", "$89.00")


def test_must_include_matches_whole_tokens():
    ref = StringReference(must_include=("12",))
    assert check_string("It is 12 km.", ref)[0]
    assert not check_string("It is 120 km.", ref)[0]


def test_stuffing_every_candidate_fails_must_include():
    """A reply listing every candidate contains the right ones too; it must still fail, by the
    distractor list and, without one, by the length budget."""
    titles = ["Best hiking trails near the lake", "Garden planning for spring", "Camping gear checklist"]
    others = ["Tips for sourdough starters", "Morning routine", "Bike chain keeps slipping", "Fixing a dripping tap",
              "Quick tomato soup"]
    with_distractors = StringReference(must_include=tuple(titles), must_exclude=tuple(others))
    assert check_string("; ".join(titles), with_distractors)[0]
    assert not check_string("; ".join(titles + others), with_distractors)[0]
    bare = StringReference(must_include=("Jon Weir", "Lee Fox"))
    everyone = ", ".join(["Ana Ruiz", "Ben Cho", "Dana Kim", "Eli Stone", "Frank Ode", "Grace Liu", "Henry Park",
                          "Iris Vale", "Jon Weir", "Kim Soto", "Lee Fox", "Mia Ross"])
    ok, why = check_string(everyone, bare)
    assert not ok and "characters" in why
    assert check_string("Jon Weir and Lee Fox", bare)[0]


def test_fuzzy_match_is_close_but_not_loose():
    ref = StringReference(fuzzy_match=("Blue T-shirt, size L",))
    assert check_string("blue t-shirt size L", ref)[0]
    assert not check_string("Red T-shirt, size S", ref)[0]


@pytest.mark.parametrize("url", ["/employees?department=Engineering&status=active",
                                 "/employees?status=active&department=Engineering",  # order does not matter
                                 "/employees/?department=Engineering&status=active&q=",  # empty fields, trailing slash
                                 "/employees?department=Engineering&status=active#top"])
def test_url_match_accepts_the_same_page(url):
    assert url_matches(url, ("/employees?department=Engineering&status=active",))


@pytest.mark.parametrize("url", ["/employees?department=Engineering",  # a filter missing
                                 "/employees?department=Engineering&status=active&sort=status",  # an extra filter
                                 "/employees?department=Engineering2&status=active",
                                 "/employees?department=engineering&status=active",
                                 "/employee?department=Engineering&status=active",
                                 "/employees/x?department=Engineering&status=active",
                                 "/employees?department=Engineering&status=active&status=active",
                                 "/employees?department=Engineering&status=inactive"])
def test_near_miss_urls_do_not_match(url):
    assert not url_matches(url, ("/employees?department=Engineering&status=active",))


@pytest.mark.parametrize("url, ok", [("/product/12", True), ("/product/123", False), ("/product/1", False),
                                     ("/product/12/reviews", False), ("/product", False)])
def test_path_match_is_exact_not_prefix(url, ok):
    assert url_matches(url, ("/product/12",)) is ok


def test_html_tree_paths_selectors_and_text():
    root = parse('<html><body><div class="a b"><p id="x">One <b>two</b></p><input name="q"><p>three</p></div>'
                 "<script>var hidden = 'no';</script></body></html>")
    assert [n.path for n in select(root, "div p")] == ["/html[1]/body[1]/div[1]/p[1]", "/html[1]/body[1]/div[1]/p[2]"]
    assert select(root, "#x")[0].text() == "One two"
    assert select(root, "div.a.b input[name=q]")[0].tag == "input"
    assert "no" not in next(n for n in root.elements() if n.tag == "body").text()


def test_program_html_reads_the_located_element():
    page = '<html><body><dl><dd id="role">Team Lead</dd><dd id="status">active</dd></dl></body></html>'
    ok = HtmlCheck("last", "#role", StringReference(exact_match="Team Lead"))
    assert check_html(page, ok)[0]
    assert not check_html(page, HtmlCheck("last", "#status", StringReference(exact_match="Team Lead")))[0]
    assert not check_html(page, HtmlCheck("last", "#missing", StringReference(exact_match="Team Lead")))[0]


def test_evaluate_multiplies_checks_and_reads_only_site_state():
    task = web_task({"eval_types": ["url_match", "db_state"], "reference_url": "/cart",
                     "db_state": [{"sql": "SELECT qty FROM cart", "expected": [[2]]}]})
    rows = {"SELECT qty FROM cart": [(2,)]}
    good = WebVerifier().evaluate(task, SiteState("done", "/cart", query=rows.__getitem__))
    assert good.passed and good.components == {"url_match": 1.0, "db_state": 1.0}
    wrong_page = WebVerifier().evaluate(task, SiteState("done", "/cart2", query=rows.__getitem__))
    assert wrong_page.reward == 0.0 and wrong_page.components["db_state"] == 1.0


def test_a_failing_site_call_is_an_error_not_an_exception():
    def broken(sql):
        raise OSError("database gone")

    task = web_task({"eval_types": ["db_state"], "db_state": [{"sql": "SELECT 1", "expected": [[1]]}]})
    verdict = WebVerifier().evaluate(task, SiteState(None, "/", query=broken))
    assert isinstance(verdict, Verdict) and verdict.error and "database gone" in verdict.error


def test_verify_without_the_site_explains_rather_than_guesses():
    task = web_task({"eval_types": ["url_match"], "reference_url": "/cart"})
    verdict = WebVerifier().verify(task, 'answer("done")')
    assert verdict.error and "assay/web-v0" in verdict.error
    string_task = web_task({"eval_types": ["string_match"], "reference_answers": {"exact_match": "3"}})
    assert WebVerifier().verify(string_task, 'answer("3")').passed
    for junk in ["", "\x00" * 1000, "answer(", "a" * 100_000]:
        assert not WebVerifier().verify(string_task, junk).passed
