"""Everything the press channels share: the press folder's data and one finding's release."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.config import Settings
from outreach.finding import Finding
from outreach.headlines import HeadlineChoice, choose_headlines, load_glossary
from outreach.press.release import (
    MediaContact,
    PressRelease,
    build_release,
    load_boilerplate,
    load_contact,
)
from outreach.press.style import HouseStyle, load_house_style


@dataclass(frozen=True)
class PressData:
    contact: MediaContact
    boilerplate: str
    glossary: dict[str, str]
    style: HouseStyle


def load_press_data(settings: Settings) -> PressData:
    press = settings.paths.press
    style = load_house_style(press)
    return PressData(
        load_contact(press), load_boilerplate(press, style.release), load_glossary(press), style
    )


def release_for(
    finding: Finding, settings: Settings, data: PressData
) -> tuple[PressRelease, HeadlineChoice]:
    organisation = settings.site.organisation
    choice = choose_headlines(finding, organisation, data.glossary, data.style.headlines)
    release = build_release(
        finding, choice, data.contact, data.boilerplate, data.style.release, organisation
    )
    return release, choice
