"""Actions are parsed strictly: literal arguments only, nothing in the text is ever evaluated."""

from __future__ import annotations

import pytest

from assay.envs.web.actions import Action, ActionError, parse_action


@pytest.mark.parametrize("text, action", [
    ("click(3)", Action("click", 3)),
    ("click('3')", Action("click", 3)),
    ('  fill(5, "blue \\"shirt\\"")  ', Action("fill", 5, 'blue "shirt"')),
    ("select(7, 'Price: low to high')", Action("select", 7, "Price: low to high")),
    ('press("Enter")', Action("press", None, "Enter")),
    ('press(4, "Enter")', Action("press", 4, "Enter")),
    ('scroll("down")', Action("scroll", dx=0, dy=600)),
    ("scroll(0, -300)", Action("scroll", dx=0, dy=-300)),
    ('goto("/cart")', Action("goto", text="/cart")),
    ("back()", Action("back")),
    ('answer("It is 3.")', Action("answer", text="It is 3.")),
    ('```python\nclick(2)\n```', Action("click", 2)),
])
def test_valid_actions(text, action):
    assert parse_action(text) == action


@pytest.mark.parametrize("text", [
    "I refuse to answer.", "", "click", "click()", "click(0)", "click(-1)", "click(3, 4)", "click(x)",
    "click(True)", "fill(3)", 'fill("a", "b")', "click(id=3)", "os.system('ls')", 'press("F13")',
    "__import__('os').system('touch /tmp/pwned')", "click(__import__('os').getpid())", "click(1 + 2)",
    'answer("a") ; click(2)', "click(2)\nclick(3)", 'scroll("sideways")', "exec('1')", "answer(b'x')",
])
def test_malformed_actions_are_refused_with_a_message(text, tmp_path):
    with pytest.raises(ActionError) as err:
        parse_action(text)
    assert str(err.value)


def test_nothing_is_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    for text in [f"click(open({str(marker)!r}, 'w'))", f"answer(open({str(marker)!r}, 'w').name)"]:
        with pytest.raises(ActionError):
            parse_action(text)
    assert not marker.exists()
