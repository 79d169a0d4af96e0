"""The class registry: validation that changes nothing on failure, persistence, attribute files."""

import json

import numpy as np
import pytest

from zsl_app.app.classes import (ClassError, ClassRegistry, HumanScale, human_scale_meta, name_key,
                             read_attribute_file)
from zsl_app.storage.data.attribute_names import attribute_names, readable

NAMES = ["bill shape: curved (up or down)", "wing color: blue", "size: small (5 - 9 in)"]
SCALE = HumanScale(low=0.0, high=100.0, typical_norm=50.0)


def registry(**kw) -> ClassRegistry:
    return ClassRegistry("m1", attribute_names=NAMES, builtin=["001.Black_footed_Albatross", "Mallard"],
                         scale=SCALE, **kw)


def test_add_persists_and_survives_a_new_registry():
    reg = registry()
    reg.add(reg.validate("Blue bird", [10, 90, 40]))
    again = registry()
    assert again.names() == ["Blue bird"]
    assert again.classes[0].human == [10, 90, 40]
    assert np.allclose(again.classes[0].attributes, np.array([10, 90, 40]) / np.linalg.norm([10, 90, 40]))
    assert json.loads(reg.path.read_text())["model"] == "m1"


@pytest.mark.parametrize("name, values, message", [
    ("New", [1, 2], "expected 3 attribute values"),
    ("New", [1, 2, 3, 4], "expected 3 attribute values"),
    ("New", [1, float("nan"), 3], "finite"),
    ("New", [1, float("inf"), 3], "finite"),
    ("New", [0, 0, 0], "every attribute is 0"),
    ("New", [-5, 10, 10], "lie in [0, 100]"),
    ("New", [5, 101, 10], "lie in [0, 100]"),
    ("New", ["a", 1, 2], "must be 3 numbers"),
    ("", [1, 2, 3], "name is empty"),
    ("   ", [1, 2, 3], "name is empty"),
    ("black footed albatross", [1, 2, 3], "already a class of the model"),
    ("MALLARD", [1, 2, 3], "already a class of the model"),
    ("blue  BIRD", [1, 2, 3], "already exists"),
    ("x" * 81, [1, 2, 3], "at most 80"),
])
def test_invalid_classes_change_nothing(name, values, message):
    reg = registry()
    reg.add(reg.validate("Blue bird", [10, 90, 40]))
    before = reg.path.read_bytes()
    with pytest.raises(ClassError, match=message.replace("[", r"\[").replace("(", r"\(")):
        reg.add(reg.validate(name, values))
    assert reg.names() == ["Blue bird"]
    assert reg.path.read_bytes() == before


def test_normalised_vectors_get_a_plausible_human_scale():
    reg = registry()
    c = reg.validate("N", [0.6, 0.8, 0.0], normalised=True)
    assert np.allclose(c.attributes, [0.6, 0.8, 0.0])
    assert np.allclose(c.human, [30, 40, 0])  # times the typical class norm
    with pytest.raises(ClassError, match="pass --normalised"):
        reg.validate("N", [0.6, 800, 0.0])
    with pytest.raises(ClassError, match="L2-normalised"):
        reg.validate("N", [0.6, 1.5, 0.0], normalised=True)


def test_mapping_by_readable_or_raw_cub_names():
    reg = registry()
    c = reg.validate("M", {"has_size::small_(5_-_9_in)": 30, "Wing color: Blue": 20,
                           "bill shape: curved (up or down)": 0})
    assert c.human == [0, 20, 30]
    with pytest.raises(ClassError, match="1 attributes have no value"):
        reg.validate("M", {"wing color: blue": 20, "size: small (5 - 9 in)": 1})
    with pytest.raises(ClassError, match="unknown attribute 'tail'"):
        reg.validate("M", {"tail": 1})


def test_remove_only_user_classes():
    reg = registry()
    reg.add(reg.validate("Blue bird", [10, 90, 40]))
    with pytest.raises(ClassError, match="class of the dataset"):
        reg.remove("mallard")
    with pytest.raises(ClassError, match="no user class 'Nope'"):
        reg.remove("Nope")
    assert reg.remove("BLUE bird").name == "Blue bird"
    assert reg.names() == [] and registry().names() == []


def test_corrupt_or_mismatched_registry_file_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(ClassError, match="fix or delete"):
        registry(path=path)
    other = ClassRegistry("m1", attribute_names=NAMES[:2], builtin=[], scale=SCALE, path=tmp_path / "o.json")
    other.add(other.validate("Two", [1, 2]))
    with pytest.raises(ClassError, match="different number of attributes"):
        registry(path=tmp_path / "o.json")


def test_attribute_files(tmp_path):
    (tmp_path / "a.csv").write_text("10, 20\n30\n")
    (tmp_path / "b.csv").write_text("attribute,value\nwing color: blue,20\nsize: small (5 - 9 in),5\n")
    (tmp_path / "c.json").write_text("[1, 2, 3]")
    (tmp_path / "d.json").write_text('{"wing color: blue": 2}')
    (tmp_path / "e.csv").write_text("1,x,3")
    (tmp_path / "f.txt").write_text("1,2,3")
    assert read_attribute_file(tmp_path / "a.csv") == [10, 20, 30]
    assert read_attribute_file(tmp_path / "b.csv") == {"wing color: blue": 20, "size: small (5 - 9 in)": 5}
    assert read_attribute_file(tmp_path / "c.json") == [1, 2, 3]
    assert read_attribute_file(tmp_path / "d.json") == {"wing color: blue": 2}
    for bad, message in [("e.csv", "'x' is not a number"), ("f.txt", "expected .csv or .json"),
                         ("missing.csv", "no attribute file")]:
        with pytest.raises(ClassError, match=message):
            read_attribute_file(tmp_path / bad)


def test_human_scale_meta_undoes_l2_normalisation():
    original = np.array([[0, 50, 100], [20, 20, 10], [3, 4, 0]], dtype=np.float32)
    meta = human_scale_meta(original, [2, 0])
    att = original[[2, 0]] / np.linalg.norm(original[[2, 0]], axis=1, keepdims=True)
    assert np.allclose(att * np.array(meta["norms"])[:, None], original[[2, 0]], atol=1e-4)
    assert (meta["min"], meta["max"]) == (0.0, 100.0)


def test_names():
    assert name_key("001.Black_footed_Albatross") == name_key("black footed  albatross")
    assert readable("7 has_bill_shape::all-purpose") == "bill shape: all-purpose"
    cub = attribute_names("CUB")
    assert len(cub) == 312 and len(set(cub)) == 312 and cub[0] == "bill shape: curved (up or down)"
    assert [len(attribute_names(d)) for d in ("AWA2", "SUN", "APY")] == [85, 102, 64]
    assert attribute_names("CUB", 4) == ["attribute 1", "attribute 2", "attribute 3", "attribute 4"]
