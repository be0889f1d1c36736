import pytest

from assay.search import Budget, Meter


def test_a_budget_needs_a_limit_and_positive_values():
    with pytest.raises(ValueError, match="at least one limit"):
        Budget()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            Budget(steps=bad)


def test_parse_reads_a_bare_number_as_steps_and_named_limits():
    assert Budget.parse("64") == Budget(steps=64)
    assert Budget.parse("steps=8, scorer-calls=20,tokens=500") == Budget(steps=8, tokens=500, scorer_calls=20)
    with pytest.raises(ValueError, match="steps=64"):
        Budget.parse("stepz=3")


def test_meter_counts_spend_and_stops_at_the_first_limit_reached():
    meter = Meter(Budget(steps=10, scorer_calls=3))
    meter.charge_generation(steps=4, tokens=40)
    meter.charge_scoring(2)
    assert meter.steps_left() == 6 and not meter.exhausted
    meter.charge_scoring(1)
    assert meter.exhausted and meter.steps_left() == 0
    cost = meter.cost()
    assert (cost.steps, cost.tokens, cost.scorer_calls, cost.generator_calls, cost.scorer_batches) == (4, 40, 3, 1, 2)


def test_unlimited_resources_report_infinite_room():
    meter = Meter(Budget(tokens=100))
    meter.charge_generation(steps=50, tokens=99)
    assert meter.steps_left() == float("inf")
    meter.charge_generation(steps=1, tokens=1)
    assert meter.exhausted and meter.steps_left() == 0


def test_used_is_the_largest_share_of_any_limit_and_at_most_one():
    meter = Meter(Budget(steps=10, tokens=100))
    assert meter.used() == 0.0
    meter.charge_generation(steps=2, tokens=50)
    assert meter.used() == 0.5  # tokens bind first
    meter.charge_generation(steps=20, tokens=0)
    assert meter.used() == 1.0  # a round that crossed the limit still reads as full, not 2.2
