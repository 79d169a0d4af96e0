"""Describing a class by parts and in words: the dataset's vocabulary, the phrase matcher, the vectors they make."""

import numpy as np
import pytest

from tiny_model import tiny_checkpoint, tiny_recognizer
from zsl_app.app.classes import ClassError
from zsl_app.app.describe import MAX_TEXT, Lexicon, value_keys
from zsl_app.app.vocabulary import FLAT, Vocabulary
from zsl_app.storage.data.attribute_names import attribute_names

CUB = Vocabulary(attribute_names("CUB"))
WORDS = Lexicon.for_dataset(CUB, "CUB")


def index(name: str) -> int:
    return CUB.names.index(name)


def said(text: str) -> dict[str, list[str]]:
    return {m.phrase: m.attributes for m in WORDS.read(text, 100).matches}


def test_cub_vocabulary_is_28_part_groups_in_attribute_order():
    assert len(CUB.groups) == 28 and CUB.size == 312
    bill = CUB.group("has_bill_shape")
    assert bill.part == "bill" and len(bill.terms) == 9 and bill.term("dagger").name == "bill shape: dagger"
    assert CUB.group("Upper Tail Color").part == "upper tail" and CUB.group("size").part == ""
    assert sorted(t.index for g in CUB.groups for t in g.terms) == list(range(312))
    assert [t.name for t in CUB.search("red crown")] == ["crown color: red"]
    assert {t.group for t in CUB.search("spotted")} == {"breast pattern", "head pattern", "back pattern",
                                                         "tail pattern", "belly pattern", "wing pattern"}


def test_flat_vocabulary_is_one_searchable_group():
    awa = Vocabulary(attribute_names("AWA2"))
    assert [g.name for g in awa.groups] == [FLAT] and awa.size == 85
    assert [t.value for t in awa.search("stripes")] == ["stripes"]


def test_parts_set_only_the_named_values_of_the_start_vector():
    start = np.full(312, 5.0)
    vector = CUB.vector({"bill shape": ["dagger"], "crown color": {"red": 60}}, start, 100)
    assert vector[index("bill shape: dagger")] == 100 and vector[index("crown color: red")] == 60
    changed = np.flatnonzero(vector != start)
    assert sorted(changed) == sorted([index("bill shape: dagger"), index("crown color: red")])


@pytest.mark.parametrize("parts, message", [
    ({"beak": ["dagger"]}, "no attribute group 'beak'"),
    ({"bill shape": ["spoon"]}, "'bill shape' has no value 'spoon'"),
    ({"bill shape": {"dagger": "lots"}}, "expected a number"),
    ({"bill shape": {"dagger": float("nan")}}, "finite"),
    ({"bill shape": {"dagger": 500}}, "is 500; expected 0 to 100"),  # was accepted into the editor
    ({"bill shape": {"dagger": -1}}, "expected 0 to 100"),
    ({"bill shape": 3}, "expected a list of values"),
])
def test_bad_parts_are_refused_saying_what_is_valid(parts, message):
    with pytest.raises(ClassError, match=message):
        CUB.vector(parts, np.zeros(312), 100)


def test_value_keys_drop_what_people_do_not_say():
    assert value_keys("small (5 - 9 in)", "") == ["small"]
    assert value_keys("rounded-wings", "wing") == ["rounded"]
    assert value_keys("fan-shaped tail", "tail") == ["fan shaped"]
    assert value_keys("duck-like", "") == ["duck"]
    assert value_keys("sailing/ boating", "") == ["sailing", "boating"]


def test_a_description_reads_as_parts_with_synonyms():
    description = WORDS.read("Small, red crown, black wings, white belly, short cone-shaped beak, flurb", 100)
    assert {m.phrase: m.attributes for m in description.matches} == {
        "small": ["size: small (5 - 9 in)"], "red crown": ["crown color: red"],
        "black wings": ["wing color: black"], "white belly": ["belly color: white"],
        "short beak": ["bill length: shorter than head"], "cone beak": ["bill shape: cone"]}
    assert description.unknown == ["flurb"]
    assert description.parts["crown color"] == {"red": 100}


def test_values_bind_to_the_part_they_are_said_of():
    assert said("black and white wings") == {"black wings": ["wing color: black"], "white wings": ["wing color: white"]}
    assert said("wings black") == {"black wings": ["wing color: black"]}
    assert said("red crown and throat") == {"red crown": ["crown color: red"], "red throat": ["throat color: red"]}
    assert said("red head") == {"red head": ["forehead color: red", "nape color: red", "crown color: red"]}
    assert said("pointed wings, pointed bill") == {"pointed wings": ["wing shape: pointed-wings"],
                                                   "pointed bill": ["bill shape: dagger"]}
    assert said("blue above, greyish below") == {"blue above": ["upperparts color: blue"],
                                                 "greyish below": ["underparts color: grey"]}
    assert said("a brown bird like a duck") == {"brown bird": ["primary color: brown"], "duck": ["shape: duck-like"]}


def test_negation_sets_zero_and_an_unbound_value_is_not_understood():
    description = WORDS.read("no crest, spotted, long tail", 100)
    assert [(m.phrase, m.attributes, m.strength) for m in description.matches] == [
        ("no crest", ["head pattern: crested"], 0.0)]
    assert description.unknown == ["spotted", "long tail"]  # which part is spotted? CUB has no tail length


def test_describe_makes_the_vector_and_refuses_what_adds_nothing():
    start = np.full(312, 7.0)
    description = WORDS.describe("red crown", start, 100)
    assert description.attributes[index("crown color: red")] == 100
    assert np.count_nonzero(description.attributes != start) == 1
    for text, message in [("", "empty"), ("  ", "empty"), ("xyzzy plugh", "not understood: xyzzy, plugh"),
                          ("red " * MAX_TEXT, "at most")]:
        with pytest.raises(ClassError, match=message):
            WORDS.describe(text, start, 100)


def test_flat_vocabularies_match_their_names_and_plurals():
    awa = Vocabulary(attribute_names("AWA2"))
    description = Lexicon.for_dataset(awa, "AWA2").read("black and white stripes, swims, big paws", 1)
    assert [m.attributes[0] for m in description.matches] == ["black", "white", "stripes", "swims", "big", "paws"]


def test_synonyms_must_name_the_vocabulary():
    with pytest.raises(ValueError, match="'crimsonish'"):
        Lexicon(CUB, "crimsonish: rubyish")
    assert Lexicon.for_dataset(Vocabulary([f"attribute {i + 1}" for i in range(312)]), "CUB").values.keys() == \
        {f"attribute {i + 1}" for i in range(312)}  # another attribute list than CUB's: no CUB synonyms


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("describe"))[1]


def test_recognizer_describes_from_the_typical_or_a_named_class(tiny):
    recognizer = tiny_recognizer(tiny)
    seen = [i for i, k in enumerate(recognizer.model.class_kinds) if k == "seen"]
    typical = np.mean([recognizer.class_attributes(recognizer.model.class_names[i]) for i in seen], axis=0)
    assert np.allclose(recognizer.typical_attributes(), typical)
    vector = recognizer.describe_parts({FLAT: ["attribute 3"]})
    assert vector[2] == recognizer.human_scale_max and np.allclose(np.delete(vector, 2), np.delete(typical, 2))
    like = recognizer.model.class_names[0]
    words = recognizer.describe_words("attribute 5", like=like)
    assert words.attributes[4] == recognizer.human_scale_max
    assert np.allclose(np.delete(words.attributes, 4), np.delete(recognizer.class_attributes(like), 4))
    recognizer.add_class("Described", words.attributes)
    assert recognizer.class_table()[-1] == {"name": "Described", "kind": "user"}
