"""What a user class may be: the rules of one model, attribute files, and the dataset's human scale."""

import numpy as np
import pytest

from zsl_app.app.attribute_file import MAX_BYTES, read_attribute_file
from zsl_app.app.classes import ClassError, ClassRules, name_key
from zsl_app.app.names import display_name
from zsl_app.core.attribute_scale import HumanScale, human_scale_meta
from zsl_app.storage.data.attribute_names import attribute_names, readable

NAMES = ["bill shape: curved (up or down)", "wing color: blue", "size: small (5 - 9 in)"]
SCALE = HumanScale(low=0.0, high=100.0, typical_norm=50.0)


def rules() -> ClassRules:
    return ClassRules(attribute_names=NAMES, builtin=["001.Black_footed_Albatross", "Mallard"], scale=SCALE)


def test_a_new_class_keeps_its_values_and_their_normalised_form():
    c = rules().new_class("Blue bird", [10, 90, 40])
    assert c.name == "Blue bird" and c.human == [10, 90, 40]
    assert np.allclose(c.attributes, np.array([10, 90, 40]) / np.linalg.norm([10, 90, 40]))


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
    # regressions: norm underflow (then an L-BFGS failure), booleans taken as 1.0, a nested list reported
    # as "expected 3, got 3", a number as the name
    ("New", [1e-300] * 3, "every attribute is below 1e-06"),
    ("New", [True, 1, 2], "attribute 1 is True, a boolean"),
    ("New", np.array([True, False, True]), "booleans"),
    ("New", [[1, 2, 3]], "is the list nested"),
    ("New", np.ones((1, 3)), "one flat list of 3 attribute values, got an array of shape (1, 3)"),
    (5, [1, 2, 3], "must be text"),
])
def test_invalid_classes_are_refused(name, values, message):
    with pytest.raises(ClassError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        rules().new_class(name, values, existing=["Blue bird"])


def test_normalised_vectors_get_a_plausible_human_scale():
    reg = rules()
    c = reg.new_class("N", [0.6, 0.8, 0.0], normalised=True)
    assert np.allclose(c.attributes, [0.6, 0.8, 0.0])
    assert np.allclose(c.human, [30, 40, 0])  # times the typical class norm
    with pytest.raises(ClassError, match="pass --normalised"):
        reg.new_class("N", [0.6, 800, 0.0])
    with pytest.raises(ClassError, match="L2-normalised"):
        reg.new_class("N", [0.6, 1.5, 0.0], normalised=True)


def test_mapping_by_readable_or_raw_cub_names():
    reg = rules()
    c = reg.new_class("M", {"has_size::small_(5_-_9_in)": 30, "Wing color: Blue": 20,
                            "bill shape: curved (up or down)": 0})
    assert c.human == [0, 20, 30]
    with pytest.raises(ClassError, match="1 attributes have no value"):
        reg.new_class("M", {"wing color: blue": 20, "size: small (5 - 9 in)": 1})
    with pytest.raises(ClassError, match="unknown attribute 'tail'"):
        reg.new_class("M", {"tail": 1})
    # regression: the later spelling of the same attribute silently won
    with pytest.raises(ClassError, match="'wing color: blue' is given twice"):
        reg.new_class("M", {"wing color: blue": 20, "has_wing_color::blue": 90, "size: small (5 - 9 in)": 1,
                            "bill shape: curved (up or down)": 0})


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


@pytest.mark.parametrize("file, content, message", [
    # regressions, each once a traceback, a silent misreading or gigabytes of memory
    ("big.csv", "1," * (MAX_BYTES // 2 + 1), "larger than 1000 KB"),
    ("utf16.csv", "10,20,30".encode("utf-16"), r"utf16.csv is not UTF-8 text"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("nested.json", "[[10, 20, 30]]", "item 1 is a list"),
    ("bool.json", "[true, 20, 30]", "item 1 is a boolean"),
    ("boolmap.json", '{"wing color: blue": true}', "'wing color: blue' is a boolean"),
    ("twice.json", '{"wing color: blue": 1, "wing color: blue": 2}', "'wing color: blue' is given twice"),
    ("twice.csv", "wing color: blue,1\nwing color: blue,2\n", "'wing color: blue' is given twice"),
])
def test_attribute_file_faults_are_named(tmp_path, file, content, message):
    path = tmp_path / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ClassError, match=message):
        read_attribute_file(path)


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


def test_cub_english_names_and_their_lookups():
    """Chuck-will's-widow was shown as "Chuck-will Widow", Whip-poor-will as "Whip-poor Will"."""
    assert display_name("022.Chuck_will_Widow") == "Chuck-will's-widow"
    assert display_name("105.Whip_poor_Will") == "Whip-poor-will"
    assert display_name("009.Brewer_Blackbird") == "Brewer's Blackbird"
    assert display_name("187.American_Three_toed_Woodpecker") == "American Three-toed Woodpecker"
    reg = ClassRules(attribute_names=NAMES, builtin=["009.Brewer_Blackbird"], scale=SCALE)
    for taken in ("Brewer's Blackbird", "brewer blackbird", "009.Brewer_Blackbird"):
        with pytest.raises(ClassError, match="already a class of the model"):
            reg.new_class(taken, [1, 2, 3])
