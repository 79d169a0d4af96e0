"""A description in words -> attribute values: which phrases were understood as which attributes, and which
words were not. Built on the dataset's own vocabulary and the synonyms beside it."""

import re
from dataclasses import dataclass, field

import numpy as np

from zsl_app.storage.data.attribute_names import META, attribute_names

from .classes import ClassError
from .vocabulary import Term, Vocabulary

SYNONYMS = {"CUB": META / "cub" / "synonyms.txt"}  # per dataset; others match their attribute names only
# Understood and ignored: they neither name an attribute nor make a word after them unknown.
FILLERS = frozenset("a an the with and or has have having is are its it of on in at this that which plus also as to "
                    "by colored coloured color colour shaped like looks look looking quite rather".split())
MODIFIERS = frozenset("dark light pale bright deep dull vivid rich mostly mainly entirely all very slightly faint "
                      "faintly bold boldly heavily lightly partly some darker lighter paler brighter pure soft".split())
NEGATIONS = frozenset("no not without lacks lacking non".split())
CLAUSES = re.compile(r"[,;.!?\n]+|\b(?:with|but)\b")
LONGEST = 4  # words in the longest phrase looked up
MAX_TEXT = 2000  # characters of a description: a few sentences, read in milliseconds


@dataclass
class Match:
    """Words of a description and the attributes they set."""

    phrase: str
    attributes: list[str]  # readable names, e.g. "crown color: red"
    strength: float  # the value they get on the dataset's scale (0 for "no crest")


@dataclass
class Description:
    """What a description says, how it was read, and the vector it makes."""

    parts: dict[str, dict[str, float]] = field(default_factory=dict)  # {group: {value: strength}}
    matches: list[Match] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # words not understood, in order, each once
    attributes: np.ndarray | None = None  # (A,) on the dataset's scale: the start vector with `parts` set


@dataclass
class _Value:
    phrase: str
    keys: set[str]
    negated: bool


class Lexicon:
    """Phrases of one vocabulary: its values and parts as written, and their synonyms."""

    def __init__(self, vocabulary: Vocabulary, synonyms: str = ""):
        self.vocabulary = vocabulary
        self.terms: dict[str, list[Term]] = {}  # value key -> the terms with that value
        self.values: dict[str, set[str]] = {}  # phrase -> value keys
        self.parts: dict[str, set[str]] = {}  # phrase -> parts (a group's part, e.g. "upper tail")
        self.covers: dict[str, set[str]] = {}  # part -> the parts it also names ("head": crown, nape, ...)
        for group in vocabulary.groups:
            if group.part:
                self.parts.setdefault(group.part, set()).add(group.part)
            for term in group.terms:
                for key in value_keys(term.value, group.part):
                    self.terms.setdefault(key, []).append(term)
                    self.values.setdefault(key, set()).add(key)
        for line in synonyms.splitlines():
            self._take(line.split("#", 1)[0].strip())
        self.part_of = {t.index: g.part for g in vocabulary.groups for t in g.terms}

    @classmethod
    def for_dataset(cls, vocabulary: Vocabulary, dataset: str) -> "Lexicon":
        """With the dataset's synonyms when the vocabulary is the dataset's own attribute list."""
        path = SYNONYMS.get((dataset or "").upper())
        own = path is not None and vocabulary.names == attribute_names(dataset)
        return cls(vocabulary, path.read_text(encoding="utf-8") if own else "")

    def _take(self, line: str) -> None:
        """One synonyms line: "canonical: word, word" or "part > part, part"."""
        if not line:
            return
        sep = ">" if ">" in line else ":"
        head, words = (s.strip() for s in line.split(sep, 1))
        head, words = words_of(head), [words_of(w) for w in words.split(",") if w.strip()]
        if sep == ">":
            for word in words:
                self._known(word, self.parts)
            self.covers[next(iter(self._known(head, self.parts)))] = set(words)
            return
        table = self.values if head in self.terms else self.parts
        self._known(head, table)
        for word in words:
            table.setdefault(word, set()).add(head)

    def _known(self, phrase: str, table: dict) -> set:
        if phrase not in table:
            raise ValueError(f"synonyms name {phrase!r}, which is no value or part of this vocabulary")
        return table[phrase]

    def describe(self, text: str, start: np.ndarray, strength: float) -> Description:
        """A description -> the attributes it names at `strength`, the others as in `start`; ClassError when
        it is empty, too long, or names no attribute (nothing to add)."""
        if not isinstance(text, str) or not text.strip():
            raise ClassError("the description is empty; describe the class in words, e.g. 'small, red crown, "
                             "black wings, white belly, short cone-shaped bill'")
        if len(text) > MAX_TEXT:
            raise ClassError(f"the description has {len(text)} characters; at most {MAX_TEXT} are read")
        description = self.read(text, strength)
        if not description.matches:
            raise ClassError(f"no word of the description names an attribute of this model (not understood: "
                             f"{', '.join(description.unknown[:10])}); use the attribute vocabulary, e.g. "
                             f"{self._examples()}")
        description.attributes = self.vocabulary.vector(description.parts, start, strength)
        return description

    def _examples(self) -> str:
        return ", ".join(f"'{g.terms[0].value} {g.part}'".replace(" '", "'") for g in self.vocabulary.groups[:3])

    def read(self, text: str, strength: float) -> Description:
        """Each clause of `text` (split at , ; . ! ? "with" "but") read as values said of parts."""
        out = Description()
        for clause in CLAUSES.split(text.lower()):
            self._clause(words_of(clause).split(), strength, out)
        return out

    def _clause(self, tokens: list[str], strength: float, out: Description) -> None:
        pending: list[_Value] = []
        last_part, last_values, negated, previous = None, [], False, None
        i = 0
        while i < len(tokens):
            phrase, n = self._phrase(tokens, i)
            i += n
            if phrase in self.values:
                pending.append(_Value(phrase, self.values[phrase], negated))
                negated, previous = False, "value"
            elif phrase in self.parts:
                if not pending and previous == "and" and last_values:  # "red crown and throat"
                    pending = last_values
                self._bind(pending, phrase, strength, out)
                last_part, last_values, pending, previous = phrase, pending, [], "part"
            else:
                negated = negated or phrase in NEGATIONS
                previous = phrase
                if phrase not in FILLERS | MODIFIERS | NEGATIONS and phrase not in out.unknown:
                    out.unknown.append(phrase)
        if pending:
            self._bind(pending, last_part, strength, out)

    def _phrase(self, tokens: list[str], i: int) -> tuple[str, int]:
        """The longest known phrase starting at token i (else the word, singular if that is known), and its length."""
        for n in range(min(LONGEST, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i:i + n])
            if phrase in self.values or phrase in self.parts:
                return phrase, n
        singular = tokens[i].removesuffix("s")  # "wheels", "crowns"
        return (singular if singular in self.values or singular in self.parts else tokens[i]), 1

    def _body(self) -> str | None:
        """The part a value said of no part describes: the whole bird (CUB's "primary color")."""
        return "primary" if "primary" in self.parts else None

    def _bind(self, values: list[_Value], part: str | None, strength: float, out: Description) -> None:
        """Each value said of `part` (None: of no part): the terms of that part that have it, else a partless
        one (size, shape); said of no part, a colour describes the whole bird and a value of one group only
        ("crest") that group."""
        for value in values:
            terms = self._terms(value.keys, self._covered(part or self._body()))
            said = f"{value.phrase} {part}" if terms and part else value.phrase
            terms = terms or self._terms(value.keys, {""})
            if not terms and part is None:
                terms = [t for key in sorted(value.keys) for t in self.terms.get(key, [])]
                terms = terms if len({t.group for t in terms}) == 1 else []
            if not terms:
                said = f"{value.phrase} {part}" if part else value.phrase
                if said not in out.unknown:
                    out.unknown.append(said)
                continue
            amount = 0.0 if value.negated else strength
            for t in terms:
                out.parts.setdefault(t.group, {})[t.value] = amount
            out.matches.append(Match(("no " if value.negated else "") + said, [t.name for t in terms], amount))

    def _covered(self, part: str | None) -> set[str]:
        """The vocabulary's parts a part word names, with the parts it covers."""
        return {q for p in self.parts.get(part, ()) for q in {p} | self.covers.get(p, set())} if part else set()

    def _terms(self, keys: set[str], parts: set[str]) -> list[Term]:
        return [t for key in sorted(keys) for t in self.terms.get(key, []) if self.part_of[t.index] in parts]


def value_keys(value: str, part: str) -> list[str]:
    """The phrases a value is known by: "rounded-wings" -> rounded, "small_(5_-_9_in)" -> small,
    "duck-like" -> duck, "sailing/ boating" -> sailing, boating."""
    value = re.sub(r"\(.*?\)", " ", value)
    keys = []
    for alternative in value.split("/"):
        words = words_of(re.sub(r"-like\s*$", "", alternative.strip())).split()
        if len(words) > 1 and part and words[-1] in (part, part + "s"):
            words = words[:-1]
        if words:
            keys.append(" ".join(words))
    return keys


def words_of(text: str) -> str:
    """Lower-case words and numbers, one space apart ("Cone-shaped" -> "cone shaped")."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))
