"""The label set (categories, intents, urgencies) with keywords, owning offices and deadlines.

The default ships as ``analysis/data/taxonomy.toml``; a deployment replaces it with its own file.
Nothing else in the code base names a category.
"""

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")


class TaxonomyError(ValueError):
    """The taxonomy file is missing a section or contradicts itself."""


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    office: str
    resolution_hours: int
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Intent:
    code: str
    name: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Urgency:
    code: str
    name: str
    first_reply_minutes: int
    resolution_hours: int
    working_time: bool
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: tuple[Category, ...]
    intents: tuple[Intent, ...]
    urgencies: tuple[Urgency, ...]
    default_category: str
    default_intent: str
    default_urgency: str

    def category(self, code: str) -> Category:
        for item in self.categories:
            if item.code == code:
                return item
        raise KeyError(code)

    def intent(self, code: str) -> Intent:
        for item in self.intents:
            if item.code == code:
                return item
        raise KeyError(code)

    def urgency(self, code: str) -> Urgency:
        for item in self.urgencies:
            if item.code == code:
                return item
        raise KeyError(code)

    @property
    def urgency_rank(self) -> dict[str, int]:
        """Most urgent first: the file lists urgencies from critical down."""
        return {u.code: i for i, u in enumerate(self.urgencies)}


def _words(raw: object, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
        raise TaxonomyError(f"{where}: keywords must be a list of strings")
    return tuple(w.strip() for w in raw if w.strip())


def parse_taxonomy(text: str) -> Taxonomy:
    data = tomllib.loads(text)
    try:
        categories = tuple(
            Category(
                code=c["code"],
                name=c["name"],
                office=c.get("office", ""),
                resolution_hours=int(c.get("resolution_hours", 168)),
                keywords=_words(c.get("keywords"), c["code"]),
            )
            for c in data["category"]
        )
        intents = tuple(
            Intent(code=i["code"], name=i["name"], keywords=_words(i.get("keywords"), i["code"]))
            for i in data["intent"]
        )
        urgencies = tuple(
            Urgency(
                code=u["code"],
                name=u["name"],
                first_reply_minutes=int(u["first_reply_minutes"]),
                resolution_hours=int(u["resolution_hours"]),
                working_time=bool(u.get("working_time", False)),
                keywords=_words(u.get("keywords"), u["code"]),
            )
            for u in data["urgency"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TaxonomyError(f"taxonomy file is incomplete: {exc}") from exc
    taxonomy = Taxonomy(
        categories=categories,
        intents=intents,
        urgencies=urgencies,
        default_category=data.get("default_category", categories[0].code if categories else ""),
        default_intent=data.get("default_intent", intents[0].code if intents else ""),
        default_urgency=data.get("default_urgency", urgencies[-1].code if urgencies else ""),
    )
    for label, code, known in (
        ("default_category", taxonomy.default_category, {c.code for c in categories}),
        ("default_intent", taxonomy.default_intent, {i.code for i in intents}),
        ("default_urgency", taxonomy.default_urgency, {u.code for u in urgencies}),
    ):
        if code not in known:
            raise TaxonomyError(f"{label} {code!r} is not defined in the file")
    return taxonomy


@cache
def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The deployment's taxonomy file, or the packaged default."""
    if path is None:
        text = resources.files("analysis").joinpath("data/taxonomy.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_taxonomy(text)
