"""The leaderboard checks that a document agrees with itself, bounds and sanitises what it shows,
and one bad entry never takes the board down; a rejected submission writes nothing."""

from __future__ import annotations

import copy
import csv
import json
import random

import pytest

from sysnoise.cli import main
from sysnoise.leaderboard.store import MAX_ENTRY_BYTES, load_entries, submit
from sysnoise.leaderboard.table import group_entries
from sysnoise.leaderboard.validate import validate

from results_factory import generated_result


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    return generated_result(tmp_path_factory.getbasetemp())


@pytest.fixture()
def doc(result) -> dict:
    return copy.deepcopy(result)


def _labelled_row(doc: dict) -> dict:
    return next(r for r in doc["rows"] if r["n_labelled"] and r["top1"] is not None)


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"x": value}
    return value


def _reference_top1_elsewhere(doc: dict) -> None:
    doc["reference"]["top1"] = 0.0 if doc["reference"]["top1"] else 1.0


MUTATIONS = {
    "delta disagrees with top1 and ref_top1": (
        lambda d: _labelled_row(d).update(delta_top1=_labelled_row(d)["delta_top1"] + 1 / 3),
        "rows[",
        "is not ref_top1 - top1",
    ),
    "reversed interval": (
        lambda d: d["rows"][0].update(flip_rate_ci=[0.9, 0.1]),
        "rows[0].flip_rate_ci",
        "is reversed",
    ),
    "interval without its estimate": (
        lambda d: d["rows"][0].update(flip_rate=1.0, flip_rate_ci=[0.0, 0.5]),
        "rows[0].flip_rate_ci",
        "does not contain the estimate",
    ),
    "more failures than images": (
        lambda d: d["rows"][0].update(n_failed=d["dataset"]["n_images"] + 5),
        "rows[0]",
        "is not the dataset's",
    ),
    "reference top-1 disagrees with the rows": (
        _reference_top1_elsewhere,
        "rows[",
        "is not the reference top-1",
    ),
    "negative image count": (
        lambda d: d["dataset"].update(n_images=-3),
        "dataset.n_images",
        "is negative",
    ),
    "400-digit image count": (
        lambda d: d["dataset"].update(n_images=10**400),
        "dataset.n_images",
        "is more than",
    ),
    "empty reference pipeline": (
        lambda d: d.update(reference_pipeline={}),
        "reference_pipeline",
        "missing fields",
    ),
    "decoder that does not exist": (
        lambda d: d["reference_pipeline"].update(decoder="libjpeg-9000"),
        "reference_pipeline.decoder",
        "is not a known decoder",
    ),
    "empty model name": (lambda d: d["model"].update(name=" "), "model.name", "must not be"),
    "very long dataset name": (
        lambda d: d["dataset"].update(name="x" * 1000),
        "dataset.name",
        "more than 128",
    ),
    "paper link that is not http(s)": (
        lambda d: d.update(
            submission={"name": "n", "submitted": "now", "paper": "javascript:alert(1)"}
        ),
        "submission.paper",
        "must be an http:// or https:// URL",
    ),
    "deep nesting": (
        lambda d: d["environment"].update(deep=_nested(40)),
        "document",
        "nested more than 16 levels",
    ),
    "top-1 that is no share of the labelled images": (
        lambda d: _labelled_row(d).update(top1=0.123456, delta_top1=None),
        "rows[",
        "is not a share of n_labelled",
    ),
}


def test_the_generated_result_passes_every_cross_check(doc):
    assert validate(doc) == []


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_self_contradicting_document_is_refused(doc, name):
    mutate, field, words = MUTATIONS[name]
    mutate(doc)
    problems = validate(doc)
    assert any(p.startswith(field) and words in p for p in problems), problems


def _fuzzed(doc: dict, rng: random.Random) -> dict:
    """`doc` with one to three values somewhere inside replaced by hostile ones."""
    hostile = [None, -1, 10**400, "", "=1+1", [], {}, 1e308, "x" * 5000, True, 0.5, "\n# h", 2]
    fuzzed = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        holder, key = fuzzed, None
        for _ in range(rng.randint(1, 4)):
            keys = list(holder) if isinstance(holder, dict) else list(range(len(holder)))
            if not keys:
                break
            key = rng.choice(keys)
            if not isinstance(holder[key], (dict, list)) or rng.random() < 0.3:
                break
            holder, key = holder[key], None
        if key is not None:
            holder[key] = copy.deepcopy(rng.choice(hostile))
    return fuzzed


def test_fuzzed_submissions_are_accepted_only_when_valid_and_rejections_write_nothing(
    doc, tmp_path, capsys
):
    rng = random.Random(14)
    rejected = 0
    for case in range(150):
        source = tmp_path / f"case-{case}.json"
        source.write_text(json.dumps(_fuzzed(doc, rng)))
        entries = tmp_path / f"entries-{case}"
        status = main(["submit", str(source), "--entries", str(entries)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if status == 0:
            problems: list[str] = []
            assert len(load_entries(entries, problems)) == 1 and problems == []
        else:
            assert status == 2 and err.startswith("sysnoise: error: invalid results document")
            assert not entries.exists() or not any(entries.iterdir())
            rejected += 1
    assert rejected >= 60  # the fuzzing does reach the checks


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2, 3]", "document: must be a JSON object, got list"),
        ('"text"', "document: must be a JSON object, got str"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (json.dumps(_nested(100)), "nested more than 16 levels"),
    ],
)
def test_non_object_or_deep_json_is_refused_by_submit_and_skipped_by_the_board(
    doc, tmp_path, capsys, content, expected
):
    (tmp_path / "bad.json").write_text(content)
    entries = tmp_path / "entries"
    assert main(["submit", str(tmp_path / "bad.json"), "--entries", str(entries)]) == 2
    assert expected in capsys.readouterr().err
    assert not entries.exists()
    submit(doc, entries_dir=entries)
    (entries / "bad.json").write_text(content)
    assert main(["leaderboard", "build", "--entries", str(entries), "--out", str(tmp_path)]) == 0
    assert "sysnoise: skipped bad.json" in capsys.readouterr().err
    assert main(["leaderboard", "show", "--entries", str(entries)]) == 0
    captured = capsys.readouterr()
    assert "sysnoise: skipped bad.json" in captured.err and "mobilenet_v2" in captured.out


def test_an_oversized_entry_is_refused_and_skipped(doc, tmp_path, capsys):
    padded = json.dumps(doc) + " " * MAX_ENTRY_BYTES
    (tmp_path / "padded.json").write_text(padded)
    entries = tmp_path / "entries"
    assert main(["submit", str(tmp_path / "padded.json"), "--entries", str(entries)]) == 2
    assert f"over the limit of {MAX_ENTRY_BYTES}" in capsys.readouterr().err
    entries.mkdir()
    (entries / "padded.json").write_text(padded)
    problems: list[str] = []
    assert load_entries(entries, problems) == []
    assert "padded.json: unreadable" in problems[0]


def test_a_missing_entries_folder_is_an_error(tmp_path, capsys):
    argv = ["leaderboard", "build", "--entries", str(tmp_path / "nope"), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "entries folder" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def test_names_cannot_inject_markdown_csv_formulas_or_terminal_codes(doc, tmp_path, capsys):
    doc["dataset"]["name"] = "sample\n\n## Winner: [click](http://evil.example)\n"
    entries = tmp_path / "entries"
    submit(doc, name='=HYPERLINK("http://evil.example")\x1b[2J', entries_dir=entries)
    site = tmp_path / "site"
    assert main(["leaderboard", "build", "--entries", str(entries), "--out", str(site)]) == 0
    markdown = (site / "LEADERBOARD.md").read_text()
    assert not any(line.startswith("## Winner") for line in markdown.splitlines())
    assert "[click](" not in markdown and "\\[click\\]" in markdown
    with open(site / "leaderboard.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["model"].startswith("'=HYPERLINK(")
    assert main(["leaderboard", "show", "--entries", str(entries)]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_one_entry_cannot_relabel_the_dataset_of_the_others(doc):
    other = copy.deepcopy(doc)
    other["model"]["name"] = "other"
    crafted = copy.deepcopy(doc)
    crafted["model"]["name"] = "crafted"
    crafted["dataset"]["name"] = "ImageNet-val-full"
    crafted["dataset"]["n_images"] = 50_000
    [group] = group_entries([crafted, doc, other])
    assert "ImageNet-val-full" not in group.title and "50000" not in group.title
    assert group.dataset_name.startswith("dataset ")
    assert group.n_images is None
    assert len(group.disagreeing) == 1
    assert "1 entries disagree on the dataset's name or size" in group.title
    [agreed] = group_entries([doc, other])
    assert agreed.dataset_name == doc["dataset"]["name"] and not agreed.disagreeing


def test_only_http_paper_links_are_links(doc, tmp_path):
    entries = tmp_path / "entries"
    submit(doc, paper="https://example.org/paper", entries_dir=entries)
    site = tmp_path / "site"
    assert main(["leaderboard", "build", "--entries", str(entries), "--out", str(site)]) == 0
    [page] = (site / "entries").glob("*.html")
    assert '<a href="https://example.org/paper" rel="nofollow noopener">' in page.read_text()
    with pytest.raises(Exception, match="submission.paper"):
        submit(doc, name="again", paper="javascript:alert(1)", entries_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_a_site_folder_that_is_a_file_is_refused(doc, tmp_path, capsys):
    submit(doc, entries_dir=tmp_path / "entries")
    (tmp_path / "site").write_text("a file")
    argv = ["leaderboard", "build", "--entries", str(tmp_path / "entries")]
    assert main([*argv, "--out", str(tmp_path / "site")]) == 2
    assert "--out " + str(tmp_path / "site") + " is an existing file" in capsys.readouterr().err
