"""The results document is typed: one serialiser, a JSON Schema generated from the types and
shipped with the leaderboard, and validation through that schema with messages naming the field."""

from __future__ import annotations

import copy
import json
import runpy
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from sysnoise.document import ClassificationRow, ResultDocument, results_schema, results_schema_text
from sysnoise.leaderboard.validate import SCHEMA_FILE, schema_problems, validate

from results_factory import generated_result

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    return generated_result(tmp_path_factory.getbasetemp())


@pytest.fixture()
def doc(result) -> dict:
    return copy.deepcopy(result)


def test_the_shipped_schema_is_the_one_the_types_generate():
    shipped = SCHEMA_FILE.read_text(encoding="utf-8")
    assert shipped == results_schema_text(), (
        "leaderboard/schema/results.schema.json is stale: run `python scripts/results_schema.py`"
    )


def test_the_schema_script_says_when_the_shipped_file_is_stale(tmp_path, monkeypatch, capsys):
    script = runpy.run_path(str(SCRIPTS / "results_schema.py"))
    stale = tmp_path / "results.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setitem(script["main"].__globals__, "SCHEMA_FILE", stale)
    assert script["main"](["--check"]) == 1
    assert "python scripts/results_schema.py" in capsys.readouterr().out
    assert script["main"]([]) == 0 and script["main"](["--check"]) == 0
    assert json.loads(stale.read_text()) == results_schema()


def test_the_schema_ships_inside_the_package():
    packaged = resources.files("sysnoise.leaderboard") / "schema" / "results.schema.json"
    assert packaged.is_file()
    pyproject = (SCRIPTS.parent / "pyproject.toml").read_text()
    assert '"schema/*.json"' in pyproject  # package data: an installed package has it


def test_a_written_document_reads_back_into_the_types_unchanged(doc):
    typed = ResultDocument.model_validate(doc)
    assert typed.to_dict() == doc
    assert typed.task == "classification" and isinstance(typed.rows[0], ClassificationRow)
    assert isinstance(typed.rows[0].delta_top1_ci, tuple)  # a pair, written as a JSON list


def test_blocks_added_later_are_absent_until_set(doc):
    typed = ResultDocument.model_validate({k: v for k, v in doc.items() if k != "predictions_file"})
    assert "predictions_file" not in typed.to_dict() and "submission" not in typed.to_dict()
    assert "imagenet_s" not in typed.to_dict()


def test_the_file_name_and_the_document_share_one_utc_date(result, tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "leaderboard-result"
    [written] = sorted(out.glob("*.json"))
    created = json.loads(written.read_text())["created"]
    assert created.endswith("+00:00") and written.stem.endswith(created[:10])


def test_the_types_refuse_a_value_out_of_range(doc):
    row = dict(doc["rows"][0], top1=1.5)
    with pytest.raises(ValidationError, match="top1"):
        ClassificationRow.model_validate(row)


def test_a_document_without_a_task_is_a_classification_one(doc):
    del doc["task"]
    assert validate(doc) == []
    assert ResultDocument.model_validate(doc).task == "classification"
    doc["task"] = "poetry"
    assert any(p.startswith("task: 'poetry' is not one of") for p in validate(doc))


def test_the_schema_checks_each_task_against_its_own_document(doc):
    from sysnoise.document import TASKS, document_types

    assert tuple(document_types()) == TASKS
    as_detection = dict(doc, task="detection")
    problems = schema_problems(as_detection)
    assert "scored_against: missing" in problems
    assert "document: unexpected fields combined, power, robustart" in problems
    assert "rows[0].scores: missing" in problems
    as_segmentation = dict(doc, task="segmentation")
    assert "model.num_classes: missing" in schema_problems(as_segmentation)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rows"][0].update(top1=1.5), "rows[0].top1: 1.5 is more than 1"),
        (lambda d: d["rows"][0].update(n_fixed=-2), "rows[0].n_fixed: -2 is negative"),
        (
            lambda d: d["rows"][0].update(n_fixed=2.0),
            "rows[0].n_fixed: must be integer, got number",
        ),
        (lambda d: d["reference"].pop("top1"), "reference.top1: missing"),
        (
            lambda d: d["rows"][0].update(flip_rate="0.5"),
            "rows[0].flip_rate: must be number or null, got string",
        ),
        (
            lambda d: d["rows"][0].update(delta_top1_ci=[0.0]),
            "rows[0].delta_top1_ci: must hold 2 values, got 1",
        ),
        (lambda d: d["model"].update(colour="red"), "model: unexpected fields colour"),
        (
            lambda d: d.update(
                not_evaluated=[
                    {"noise": "x", "category": "c", "changes": {}, "status": "late", "reason": ""}
                ]
            ),
            "not_evaluated[0].status: 'late' is not one of 'not applicable', 'unavailable'",
        ),
        (lambda d: d.update(robustart={"top1_mean": 2}), "robustart.top1_mean: 2 is more than 1"),
    ],
)
def test_schema_problems_name_the_field_and_the_rule(doc, mutate, message):
    mutate(doc)
    problems = schema_problems(doc)
    assert any(p.startswith(message) for p in problems), problems
    assert validate(doc)  # and the document is refused
