"""Leaderboard validation: a real small result passes, and each rule catches its own mistake."""

from __future__ import annotations

import copy
import json
import math

import pytest

from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.validate import check, validate
from sysnoise.metrics import category_summary

from results_factory import generated_result


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    return generated_result(tmp_path_factory.getbasetemp())


@pytest.fixture()
def doc(result) -> dict:
    return copy.deepcopy(result)


def _assert_problem(document: dict, field: str) -> None:
    problems = validate(document)
    assert any(p.startswith(field) for p in problems), problems


def test_real_result_is_valid(doc):
    assert validate(doc) == []
    check(doc)


def test_git_hash_and_reference_top1_may_be_null(doc):
    doc["tool"]["git_hash"] = None
    doc["reference"]["top1"] = None
    assert validate(doc) == []


def test_not_an_object_is_a_problem():
    assert validate([]) and validate(None)


@pytest.mark.parametrize("version", [1, 2, 4, 0, "3", None, True])
def test_unknown_schema_version(doc, version):
    doc["schema_version"] = version
    _assert_problem(doc, "schema_version")


def test_missing_schema_version(doc):
    del doc["schema_version"]
    _assert_problem(doc, "schema_version")


@pytest.mark.parametrize(
    "dotted",
    [
        "tool.version",
        "tool.git_hash",
        "created",
        "environment.packages",
        "model.name",
        "model.arch",
        "model.weights_sha256",
        "dataset.name",
        "dataset.n_images",
        "dataset.fingerprint",
        "suite.name",
        "reference.top1",
        "rows",
    ],
)
def test_missing_required_field(doc, dotted):
    *parents, last = dotted.split(".")
    holder = doc
    for key in parents:
        holder = holder[key]
    del holder[last]
    _assert_problem(doc, dotted)


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("tool.version", 1),
        ("tool.git_hash", 123),
        ("created", None),
        ("environment.packages", ["torch"]),
        ("model.name", None),
        ("dataset.n_images", "3"),
        ("dataset.n_images", True),
        ("suite.name", 5),
        ("rows", {}),
        ("reference.top1", "0.9"),
        ("reference.top1", 1.5),
        ("reference.top1", -0.1),
    ],
)
def test_wrong_type_or_range(doc, dotted, value):
    *parents, last = dotted.split(".")
    holder = doc
    for key in parents:
        holder = holder[key]
    holder[last] = value
    _assert_problem(doc, dotted)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_anywhere(doc, value):
    doc["run"]["seconds"] = value
    _assert_problem(doc, "run.seconds")
    doc["run"]["seconds"] = 1.0
    doc["rows"][0]["top1"] = value
    _assert_problem(doc, "rows[0].top1")


@pytest.mark.parametrize(
    "field",
    ["top1", "top5", "ref_top1", "ref_top5", "flip_rate", "identical_input_rate", "mcnemar_p"],
)
@pytest.mark.parametrize("value", [1.01, -0.01, "0.5", False])
def test_fractions_in_unit_interval_and_numeric(doc, field, value):
    doc["rows"][1][field] = value
    _assert_problem(doc, f"rows[1].{field}")


@pytest.mark.parametrize("field", ["delta_top1", "delta_top5"])
@pytest.mark.parametrize("value", [1.5, -1.01, "0.0"])
def test_deltas_within_minus_one_one(doc, field, value):
    doc["rows"][0][field] = value
    _assert_problem(doc, f"rows[0].{field}")


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("flip_rate_ci", [-0.1, 0.5], "rows[0].flip_rate_ci[0]"),
        ("flip_rate_ci", [0.1, 1.5], "rows[0].flip_rate_ci[1]"),
        ("delta_top1_ci", [-1.5, 0.0], "rows[0].delta_top1_ci[0]"),
        ("delta_top1_ci", [0.0], "rows[0].delta_top1_ci"),
        ("delta_top1_ci", "[0, 0]", "rows[0].delta_top1_ci"),
    ],
)
def test_confidence_interval_bounds(doc, field, value, where):
    doc["rows"][0][field] = value
    _assert_problem(doc, where)


@pytest.mark.parametrize(
    "field", ["n_images", "n_failed", "n_labelled", "n_broken", "n_fixed", "input_max_abs_diff"]
)
@pytest.mark.parametrize("value", [-1, 1.5, "3"])
def test_counts_are_non_negative_integers(doc, field, value):
    doc["rows"][2][field] = value
    _assert_problem(doc, f"rows[2].{field}")


def test_error_count_is_a_count(doc):
    doc["rows"][0]["errors"]["count"] = -2
    _assert_problem(doc, "rows[0].errors.count")


def _recount(document: dict) -> None:
    document["categories"] = category_summary(document["rows"])


def test_missing_noise_row(doc):
    dropped = doc["rows"].pop(0)["noise"]
    _recount(doc)
    problems = validate(doc)
    assert any(p.startswith("rows: missing") and dropped in p for p in problems), problems


def test_noise_not_in_suite(doc):
    doc["rows"][0]["noise"] = "decoder=made-up"
    _assert_problem(doc, "rows: noises not in suite")


def test_duplicated_noise(doc):
    doc["rows"].append(copy.deepcopy(doc["rows"][0]))
    _recount(doc)
    _assert_problem(doc, "rows: duplicated")


def test_unknown_suite(doc):
    doc["suite"]["name"] = "no-such-suite"
    _assert_problem(doc, "suite.name: unknown suite")


def test_noises_follow_the_reference_pipeline(doc):
    # With cv2 as the reference decoder, the quick suite's "decoder=cv2" is the reference itself.
    doc["reference_pipeline"]["decoder"] = "cv2"
    _assert_problem(doc, "suite.noises: not noises of suite")


def test_a_run_made_before_the_suite_grew_stays_valid(doc):
    # A noise added to the suite later is missing from the run's declared list: still valid.
    dropped = doc["rows"].pop()
    doc["suite"]["noises"].remove(dropped["noise"])
    doc["categories"] = category_summary(doc["rows"])
    assert validate(doc) == []


def test_declared_noises_must_all_be_rows_or_not_evaluated(doc):
    dropped = doc["rows"].pop()
    doc["categories"] = category_summary(doc["rows"])
    _assert_problem(doc, "rows: missing noises")
    doc["not_evaluated"].append(
        {
            "noise": dropped["noise"],
            "category": dropped["category"],
            "changes": dropped["changes"],
            "status": "unavailable",
            "reason": "no GPU",
        }
    )
    assert validate(doc) == []


def test_categories_must_match_the_rows(doc):
    category = next(iter(doc["categories"]))
    doc["categories"][category]["mean"] += 1e-6
    _assert_problem(doc, f"categories.{category}.mean")


def test_categories_within_tolerance_pass(doc):
    category = next(iter(doc["categories"]))
    doc["categories"][category]["max"] += 1e-12
    assert validate(doc) == []


def test_missing_and_extra_categories(doc):
    doc["categories"]["made-up"] = doc["categories"].pop(next(iter(doc["categories"])))
    problems = validate(doc)
    assert any(p.endswith(": missing") for p in problems), problems
    assert any("made-up" in p for p in problems), problems


def test_check_lists_every_problem(doc):
    doc["tool"]["version"] = 1
    doc["rows"][0]["top1"] = 2.0
    with pytest.raises(SysnoiseError) as caught:
        check(doc)
    assert "tool.version" in str(caught.value) and "rows[0].top1" in str(caught.value)


def test_shipped_entries_are_valid():
    from sysnoise.leaderboard.store import DEFAULT_ENTRIES_DIR
    from sysnoise.leaderboard.validate import board_problems

    shipped = sorted(DEFAULT_ENTRIES_DIR.glob("*.json"))
    assert shipped, "the repository ships the sample-set entries"
    for path in shipped:  # every task's, built-in suites only
        assert board_problems(json.loads(path.read_text())) == [], path.name
    tasks = {json.loads(path.read_text()).get("task", "classification") for path in shipped}
    assert tasks == {"classification", "segmentation", "detection"}


def test_holm_adjusted_p_must_match_the_raw_p(doc):
    labelled = [i for i, row in enumerate(doc["rows"]) if row["mcnemar_p"] is not None]
    assert labelled, "the quick-suite result has labelled rows"
    doc["rows"][labelled[0]]["mcnemar_p_holm"] = doc["rows"][labelled[0]]["mcnemar_p"] / 2
    _assert_problem(doc, f"rows[{labelled[0]}].mcnemar_p_holm")


def test_new_interval_fields_are_range_checked(doc):
    doc["rows"][0]["delta_top5_ci"] = [-2.0, 0.1]
    _assert_problem(doc, "rows[0].delta_top5_ci[0]")


def test_robustart_summary_must_match_the_rows(doc):
    from sysnoise.leaderboard.store import DEFAULT_ENTRIES_DIR

    documents = [json.loads(p.read_text()) for p in sorted(DEFAULT_ENTRIES_DIR.glob("*.json"))]
    mobilenet = [d for d in documents if d["model"]["name"] == "mobilenet_v2"]
    [shipped] = [d for d in mobilenet if d.get("robustart")]
    doc["robustart"] = copy.deepcopy(shipped["robustart"])  # a quick-suite run has none
    _assert_problem(doc, "robustart: the run holds no published ImageNet-S variant")
    assert shipped["robustart"]["complete"] and validate(shipped) == []
    shipped["robustart"]["top1_std"] += 0.01
    _assert_problem(shipped, "robustart.top1_std")
