"""House style: headline limits, case rule and release limits, from ``press/style.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from outreach.errors import RenderError


class HouseStyleError(RenderError, ValueError):
    """press/style.toml cannot be used; the message names the file, the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeadlineStyle(_Section):
    case: Literal["sentence", "title"] = "sentence"
    business_max_characters: int = 110
    consumer_max_characters: int = 70
    consumer_max_words: int = 12
    consumer_max_grade: float = 8.0
    runners_up: int = 3


class ReleaseStyle(_Section):
    lead_max_words: int = 50
    boilerplate_max_words: int = 100
    pitch_max_words: int = 200
    clip_seconds: int = 60


class PitchWindowStyle(_Section):
    """When pitches reach a journalist, in their own zone: working-day mornings, not on their
    country's public holidays; ``working_until`` bounds the slot an embargoed pitch takes
    when its next morning would be after the lift."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon", "tue", "wed", "thu", "fri",
    )  # fmt: skip
    start: str = Field(default="08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="11:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    working_until: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    skip_holidays: bool = True

    @model_validator(mode="after")
    def _a_window_exists(self) -> PitchWindowStyle:
        if not self.days:
            raise ValueError('pitch_window.days: name at least one day, e.g. ["mon", "tue"]')
        if not self.start < self.end <= self.working_until:
            raise ValueError(
                "pitch_window: start must be before end, and end no later than working_until "
                f"(now {self.start}, {self.end}, {self.working_until})"
            )
        return self


class HouseStyle(_Section):
    headlines: HeadlineStyle = HeadlineStyle()
    release: ReleaseStyle = ReleaseStyle()
    pitch_window: PitchWindowStyle = PitchWindowStyle()


SMALL_WORDS = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "but",
    "by",
    "for",
    "in",
    "of",
    "on",
    "or",
    "the",
    "to",
    "vs",
    "via",
}


def apply_case(text: str, case: str) -> str:
    """Sentence case capitalises the first letter only; title case also every major word."""
    if not text:
        return text
    if case == "title":
        words = text.split(" ")
        text = " ".join(
            word
            if (index and word.lower() in SMALL_WORDS) or not word[:1].islower()
            else word[:1].upper() + word[1:]
            for index, word in enumerate(words)
        )
    return text[:1].upper() + text[1:]


def load_house_style(press_dir: Path) -> HouseStyle:
    path = press_dir / "style.toml"
    if not path.is_file():
        return HouseStyle()
    try:
        return HouseStyle.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise HouseStyleError(f"{path}: {exc}") from None
