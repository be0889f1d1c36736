"""Task sources: JSONL and Hugging Face loading, column mapping, sampling, make_source.

Every dataset here is built locally in tmp_path; nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from assay import Task
from assay.envs.sources import (
    ColumnMapping,
    ListSource,
    ProceduralSource,
    TaskSource,
    default_sample_path,
    last_boxed,
    load_hf,
    load_jsonl,
    make_source,
)
from assay.errors import AssayError

datasets = pytest.importorskip("datasets")

ROWS = [
    {"id": "a", "problem": "1 + 1?", "answer": "2", "level": 1},
    {"id": "b", "problem": "Half of 1?", "answer": "\\frac{1}{2}", "level": 2},
    {"id": "c", "problem": "6 * 7?", "answer": 42, "level": 1},
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _hf_cache_in_tmp(tmp_path, monkeypatch):
    """Loading data files writes an Arrow cache: keep it out of ~/.cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "default-hf-cache")


def hf_kwargs(tmp_path):
    # keep the datasets cache out of ~/.cache; also shows load_kwargs reach load_dataset
    return {"cache_dir": str(tmp_path / "hf-cache")}


# --- last_boxed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\fbox{7}", "7"),
        ("$\\boxed 5$", "5"),
        ("\\boxed{ x = 3 }", "x = 3"),
        ("no box here", None),
        ("\\boxed{\\frac{1}{2}", None),  # never closes
        ("\\boxedfoo{3}", None),  # another macro
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


# --- ListSource -------------------------------------------------------------------------------


def _tasks(n):
    return [Task(id=f"t{i}", prompt=f"q{i}", answer=str(i), domain="math") for i in range(n)]


def test_list_source_sampling_is_deterministic_given_rng():
    src = ListSource(_tasks(10), name="ten")
    ids = lambda seed: [t.id for t in _draws(src, seed, 50)]  # noqa: E731
    assert ids(0) == ids(0)
    assert ids(0) != ids(1)
    assert set(ids(2) + ids(3) + ids(4)) == {f"t{i}" for i in range(10)}  # uniform reaches all


def _draws(src, seed, n):
    rng = np.random.default_rng(seed)
    return [src.sample(rng) for _ in range(n)]


def test_list_source_sequence_protocol():
    src = ListSource(_tasks(3), name="three")
    assert len(src) == 3 and src[1].id == "t1" and [t.id for t in src] == ["t0", "t1", "t2"]
    assert isinstance(src, TaskSource) and src.name == "three"


def test_list_source_rejects_empty_and_non_tasks():
    with pytest.raises(AssayError, match="no tasks"):
        ListSource([], name="empty")
    with pytest.raises(AssayError, match="expected assay.Task"):
        ListSource([{"id": "x"}])


# --- JSONL ------------------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path):
    src = load_jsonl(write_jsonl(tmp_path / "t.jsonl", ROWS))
    assert src.name == "t.jsonl" and len(src) == 3
    a, b, c = src
    assert (a.id, a.prompt, a.answer, a.domain) == ("a", "1 + 1?", "2", "math")
    assert b.answer == "\\frac{1}{2}"
    assert c.answer == "42"  # a JSON number is still a gold string for the math verifier
    assert a.meta == {"level": 1}  # unused columns are kept; the answer is not repeated
    assert [Task.from_dict(t.to_dict()) for t in src] == list(src)


def test_jsonl_custom_mapping(tmp_path):
    rows = [{"uid": 7, "q": "2 + 2?", "gold": "4", "answer": "decoy"}]
    mapping = ColumnMapping(prompt="q", answer="gold", id="uid")
    (task,) = load_jsonl(write_jsonl(tmp_path / "t.jsonl", rows), mapping=mapping, domain="arith")
    assert (task.id, task.prompt, task.answer, task.domain) == ("7", "2 + 2?", "4", "arith")
    assert task.meta == {"answer": "decoy"}


def test_jsonl_without_id_hashes_content_stably(tmp_path):
    rows = [{"question": "1 + 1?", "answer": "2"}, {"question": "1 + 2?", "answer": "3"}]
    first = load_jsonl(write_jsonl(tmp_path / "a.jsonl", rows))
    again = load_jsonl(write_jsonl(tmp_path / "b.jsonl", rows))
    assert [t.id for t in first] == [t.id for t in again]
    assert first[0].id != first[1].id and first[0].id.startswith("task-")


def test_jsonl_missing_column_error_names_line_columns_and_fix(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], "", {"id": "x", "problem": "p", "gold": "1"}])
    with pytest.raises(AssayError) as err:
        load_jsonl(path)
    message = str(err.value)
    assert f"{path}:3" in message  # the blank line still counts
    assert "['gold', 'id', 'problem']" in message
    assert "ColumnMapping(answer=...)" in message


def test_jsonl_bad_json_and_non_object_lines(tmp_path):
    with pytest.raises(AssayError, match=r"bad\.jsonl:2: not valid JSON"):
        load_jsonl(write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], "{oops"]))
    with pytest.raises(AssayError, match=r"list\.jsonl:1: each line must be a JSON object"):
        load_jsonl(write_jsonl(tmp_path / "list.jsonl", ["[1, 2]"]))
    with pytest.raises(AssayError, match="no such file"):
        load_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(AssayError, match="non-empty string"):
        load_jsonl(write_jsonl(tmp_path / "p.jsonl", [{"problem": 3, "answer": "1"}]))
    with pytest.raises(AssayError, match=r"e\.jsonl:2: answer column 'answer' is empty"):
        load_jsonl(write_jsonl(tmp_path / "e.jsonl", [ROWS[0], {"problem": "p", "answer": " "}]))


def test_solution_column_gold_is_the_last_nested_box(tmp_path):
    solution = "First $\\boxed{0}$ was wrong. Redo: $x = \\boxed{\\frac{1}{2}}$."
    rows = [{"problem": "p", "solution": solution, "level": "Level 2"}]
    (task,) = load_jsonl(write_jsonl(tmp_path / "m.jsonl", rows))
    assert task.answer == "\\frac{1}{2}"
    assert task.meta == {"solution": solution, "level": "Level 2"}  # the worked solution stays


def test_solution_without_box_is_an_error_with_the_fix(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "it is 3"}])
    with pytest.raises(AssayError, match=r"m\.jsonl:1: .*extract='none'"):
        load_jsonl(path)
    (task,) = load_jsonl(path, mapping=ColumnMapping(extract="none"))
    assert task.answer == "it is 3"


def test_gsm8k_style_answer(tmp_path):
    rows = [{"question": "How many?", "answer": "5 * 200 = <<5*200=1000>>1000\n#### 1,000"}]
    (task,) = load_jsonl(write_jsonl(tmp_path / "g.jsonl", rows))
    assert task.answer == "1000"
    with pytest.raises(AssayError, match="has no \\\\boxed"):
        load_jsonl(tmp_path / "g.jsonl", mapping=ColumnMapping(extract="boxed"))


def test_column_mapping_validates_extract():
    with pytest.raises(AssayError, match="extract must be one of"):
        ColumnMapping(extract="last")


# --- Hugging Face -----------------------------------------------------------------------------


def _columns(rows):
    return {k: [r[k] for r in rows] for k in rows[0]}


HF_ROWS = [
    {"unique_id": "u1", "problem": "1 + 1?", "answer": "2"},
    {"unique_id": "u2", "problem": "Half of 1?", "answer": "\\frac{1}{2}"},
]


def test_hf_dataset_object():
    src = load_hf(datasets.Dataset.from_dict(_columns(HF_ROWS)))
    assert [(t.id, t.answer) for t in src] == [("u1", "2"), ("u2", "\\frac{1}{2}")]
    assert all(t.meta == {} for t in src)


def test_hf_dataset_dict_picks_split():
    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_dict(_columns(HF_ROWS)),
        test=datasets.Dataset.from_dict(_columns(HF_ROWS[:1])),
    )
    assert len(load_hf(dd, split="test")) == 1 and len(load_hf(dd)) == 2
    with pytest.raises(AssayError, match=r"no split 'validation'; splits present: \['test', 'train'\]"):
        load_hf(dd, split="validation")


def test_hf_save_to_disk(tmp_path):
    datasets.Dataset.from_dict(_columns(HF_ROWS)).save_to_disk(str(tmp_path / "ds"))
    datasets.DatasetDict(test=datasets.Dataset.from_dict(_columns(HF_ROWS))).save_to_disk(str(tmp_path / "dd"))
    assert [t.id for t in load_hf(tmp_path / "ds")] == ["u1", "u2"]
    assert [t.id for t in load_hf(str(tmp_path / "dd"), split="test")] == ["u1", "u2"]


def test_hf_parquet_file_with_split_and_load_kwargs(tmp_path):
    path = tmp_path / "test.parquet"
    datasets.Dataset.from_dict(_columns(HF_ROWS)).to_parquet(str(path))
    src = load_hf(path, split="test", **hf_kwargs(tmp_path))
    assert [t.answer for t in src] == ["2", "\\frac{1}{2}"] and src.name.endswith("test.parquet:test")
    assert (tmp_path / "hf-cache").exists()


def test_hf_custom_mapping_and_math_solution_column():
    rows = {
        "q": ["Half of 1?", "Root of 4?"],
        "worked": ["So it is $\\boxed{\\frac{1}{2}}$.", "$\\sqrt{4} = \\boxed{2}$"],
        "level": ["Level 1", "Level 2"],
    }
    src = load_hf(datasets.Dataset.from_dict(rows), mapping=ColumnMapping(prompt="q", answer="worked"), name="mini")
    assert [t.answer for t in src] == ["\\frac{1}{2}", "2"]
    assert src[0].meta == {"worked": rows["worked"][0], "level": "Level 1"}
    assert src[0].id.startswith("task-") and src.name == "mini"


def test_hf_missing_column_fails_before_rows():
    ds = datasets.Dataset.from_dict({"text": ["a"], "label": ["b"]})
    expected = (
        r"mine \[train\]: no prompt column \(any of 'problem', 'prompt', 'question'\); "
        r"columns present: \['label', 'text'\]"
    )
    with pytest.raises(AssayError, match=expected):
        load_hf(ds, name="mine")


def test_hf_missing_local_path_does_not_reach_the_hub(tmp_path):
    with pytest.raises(AssayError, match="no such file or folder"):
        load_hf(str(tmp_path / "nope.parquet"))
    with pytest.raises(AssayError, match="no such file or folder"):
        load_hf("./not/here")


def test_hf_rejects_other_objects():
    with pytest.raises(AssayError, match="expected a datasets.Dataset"):
        load_hf([{"problem": "p", "answer": "1"}])


# --- ProceduralSource -------------------------------------------------------------------------


def test_procedural_source_by_name_is_deterministic():
    src = ProceduralSource("modchain", difficulty=2)
    assert src.name == "modchain-d2" and isinstance(src, TaskSource)
    assert [t.id for t in _draws(src, 4, 5)] == [t.id for t in _draws(src, 4, 5)]
    assert all(t.meta["difficulty"] == 2 for t in _draws(src, 4, 5))


def test_procedural_source_takes_a_callable():
    def gen(rng, difficulty):
        n = int(rng.integers(100))
        return Task(id=f"n{n}", prompt=f"{n} * {difficulty}?", answer=str(n * difficulty), domain="math")

    src = ProceduralSource(gen, difficulty=5)
    assert src.name == "gen-d5" and src.sample(np.random.default_rng(0)).answer.isdigit()
    with pytest.raises(AssayError, match="difficulty must be an int >= 1"):
        ProceduralSource(gen, difficulty=0)


def test_sources_pickle_for_worker_processes(tmp_path):
    for src in (make_source(generator="modchain"), load_jsonl(write_jsonl(tmp_path / "t.jsonl", ROWS))):
        clone = pickle.loads(pickle.dumps(src))
        assert [t.id for t in _draws(clone, 1, 5)] == [t.id for t in _draws(src, 1, 5)]


# --- make_source ------------------------------------------------------------------------------


def test_default_is_the_shipped_math_sample():
    src = make_source()
    assert src.name == "math_sample" and 30 <= len(src) <= 60
    assert default_sample_path().name == "math_sample.jsonl"
    assert len({t.id for t in src}) == len(src)
    assert all(t.domain == "math" and isinstance(t.answer, str) and t.answer for t in src)
    assert src.sample(np.random.default_rng(0)) == src.sample(np.random.default_rng(0))


def test_make_source_routes_each_kind(tmp_path):
    jsonl = write_jsonl(tmp_path / "t.jsonl", ROWS)
    parquet = tmp_path / "t.parquet"
    datasets.Dataset.from_dict(_columns(HF_ROWS)).to_parquet(str(parquet))
    assert len(make_source(path=jsonl)) == 3
    assert len(make_source(path=str(parquet))) == 2
    assert len(make_source(dataset=datasets.Dataset.from_dict(_columns(HF_ROWS)))) == 2
    src = make_source(path=jsonl, mapping={"prompt": "problem", "answer": "id"})  # a dict, as from YAML
    assert [t.answer for t in src] == ["a", "b", "c"]
    gen = make_source(generator="arithmetic", difficulty=4)
    assert isinstance(gen, ProceduralSource) and gen.difficulty == 4
    assert make_source(generator="arithmetic").difficulty == 3
    mine = ListSource(_tasks(2))
    assert make_source(mine) is mine
    assert len(make_source(_tasks(4))) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"path": "a.jsonl", "generator": "arithmetic"}, "got path and generator: keep one of"),
        ({"difficulty": 2}, "add generator="),
        ({"path": "a.jsonl", "difficulty": 2}, "add generator="),
        ({"generator": "arithmetic", "mapping": ColumnMapping()}, "mapping= only applies"),
        ({"generator": "modchain", "split": "test"}, "split= only applies"),
        ({"source": "a.jsonl"}, "for a file use path="),
        ({"generator": "arithmatic"}, "Did you mean 'arithmetic'"),
        ({"generator": "modchain", "difficulty": 0}, "difficulty must be an int >= 1"),
        ({"path": "missing/dir"}, "no such file or folder"),
        ({"mapping": {"question": "q"}}, "unknown keys \\['question'\\]"),
    ],
)
def test_make_source_errors_name_the_fix(kwargs, message):
    with pytest.raises(AssayError, match=message):
        make_source(**kwargs)
