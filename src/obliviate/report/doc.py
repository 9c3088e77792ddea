"""A tiny document model shared by the Markdown and HTML writers: sections are lists of these blocks.

Text may hold `backtick` code spans and **bold** spans; both writers render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int  # 1..3
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Note:
    """A visible "not available: <reason>" line (or another caveat when ``prefix`` is changed)."""

    text: str
    prefix: str = "not available"


@dataclass
class Cell:
    text: str
    bold: bool = False
    muted: bool = False  # skipped / missing values, drawn grey in HTML


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    row_roles: list[str] = field(default_factory=list)  # run | gold | original, for row styling
    caption: str = ""
    numeric_from: int = 1  # columns from this index on are right-aligned


@dataclass
class Figure:
    name: str  # file stem under figures/
    png: bytes
    caption: str


@dataclass
class Bullets:
    items: list[str]


Block = Heading | Para | Note | Table | Figure | Bullets
