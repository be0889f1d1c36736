"""Strategies by name, with options given as text (``n=16``, ``aggregation=min``): what the CLI and
config files use. Each option is converted to the type of the strategy's field."""

from __future__ import annotations

import dataclasses

from assay.search.strategies import DVTS, MCTS, BeamSearch, BestOfN, GuidedRetry, MajorityVote, Strategy

STRATEGIES: dict[str, type[Strategy]] = {
    "best_of_n": BestOfN, "majority": MajorityVote, "beam": BeamSearch, "dvts": DVTS, "mcts": MCTS,
    "guided_retry": GuidedRetry,
}


def _convert(field: dataclasses.Field, text: str):
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
    except ValueError:
        raise ValueError(f"option {field.name}={text!r}: expected {kind}") from None
    if kind == "str":
        return text
    raise ValueError(f"option {field.name} cannot be set from text (type {kind})")


def make_strategy(name: str, options: dict[str, str] | None = None) -> Strategy:
    """``make_strategy("beam", {"n": "16", "beam_width": "4"})``; unknown names and options get
    errors that list the valid ones."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, text in (options or {}).items():
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"{name} has no option {key!r}; its options: {', '.join(fields)}")
        kwargs[key] = _convert(fields[key], text)
    return cls(**kwargs)
