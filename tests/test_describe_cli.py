"""Describing a class on the command line with the shipped model: --describe, --like, --photos, --dry-run,
and the out-of-domain score of --predict."""

import json
from pathlib import Path

import pytest

from conftest import SAMPLES, needs_samples
from zsl_app.app.cli import main
from zsl_app.storage.paths import user_data_dir

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def user_classes(capsys) -> list[str]:
    capsys.readouterr()
    assert main(["--list-classes"]) == 0
    return [line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines() if line.startswith("user")]


def test_describe_says_what_it_understood_and_adds(capsys):
    assert main(["--add-class", "Red Cap", "--describe", "small, red crown, black wings, flurb"]) == 0
    err = capsys.readouterr().err
    assert "understood 'red crown': crown color: red = 100" in err and "not understood: flurb" in err
    assert user_classes(capsys) == ["Red Cap"]


def test_dry_run_json_is_a_vector_attributes_reads(tmp_path, capsys):
    assert main(["--add-class", "Jay", "--describe", "red crown", "--like", "073.Blue_Jay", "--dry-run",
                 "--json"]) == 0
    vector = json.loads(capsys.readouterr().out)
    assert len(vector) == 312 and vector["crown color: red"] == 100 and vector["crown color: blue"] > 50
    assert user_classes(capsys) == []
    (tmp_path / "jay.json").write_text(json.dumps(vector))
    assert main(["--add-class", "Jay", "--attributes", str(tmp_path / "jay.json")]) == 0
    assert user_classes(capsys) == ["Jay"]


@needs_samples
def test_an_edited_photo_reading_is_added_with_its_photos(tmp_path, capsys):
    photos = [str(p) for p in sorted(SAMPLES.glob("*.jpg"))[:2]]
    assert main(["--add-class", "Edited", "--photos", *photos, "--dry-run", "--json"]) == 0
    vector = json.loads(capsys.readouterr().out)
    vector["crown color: red"] = 100
    (tmp_path / "edited.json").write_text(json.dumps(vector))
    assert main(["--add-class", "Edited", "--attributes", str(tmp_path / "edited.json"), "--photos", *photos]) == 0
    [kept] = json.loads(next((user_data_dir() / "classes").glob("*.json")).read_text())["classes"]
    assert kept["human"][list(vector).index("crown color: red")] == 100 and len(kept["examples"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--describe", "xyzzy plugh"], "no word of the description names an attribute"),
    (["--describe", "red crown", "--photos", "a.jpg"], "got --describe and --photos"),
    (["--photos", "missing.jpg"], "photo 1 of 1 cannot be read"),
    (["--attributes", "a.csv", "--like", "073.Blue_Jay"], "--like CLASS goes with --describe"),
    (["--describe", "red crown", "--like", "No_Such_Bird"], "no class 'No_Such_Bird'"),
])
def test_a_description_or_photo_that_cannot_be_read_adds_nothing(argv, message, capsys):
    assert main(["--add-class", "Nothing", *argv]) == 2
    assert message in capsys.readouterr().err
    assert user_classes(capsys) == []


@needs_samples
def test_photos_add_a_class_and_predict_says_when_a_photo_is_no_bird(capsys):
    photos = [str(p) for p in sorted(SAMPLES.glob("*.jpg"))[:2]]
    assert main(["--add-class", "From Photos", "--photos", *photos]) == 0
    err = capsys.readouterr().err
    assert err.count("looks like a bird") == 2 and err.startswith(photos[0]) and "read: " in err
    assert user_classes(capsys) == ["From Photos"]
    assert main(["--predict", str(EXAMPLES / "chelsea.jpg"), "--json"]) == 0
    domain = json.loads(capsys.readouterr().out)["domain"]
    assert domain["domain"] == "bird" and not domain["in_domain"] and domain["probability"] < 0.1
    assert main(["--predict", str(EXAMPLES / "chelsea.jpg")]) == 0
    assert "NOTICE: this photo does NOT look like a bird" in capsys.readouterr().out
