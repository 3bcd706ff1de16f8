"""Everything the press channels share: the press folder's data and one finding's release."""

from __future__ import annotations

from dataclasses import dataclass, replace

from outreach.config import Settings
from outreach.finding import Finding
from outreach.headlines import HeadlineChoice, choose_headlines, load_glossary
from outreach.press.journalists import load_journalists, match_journalists
from outreach.press.release import (
    MediaContact,
    PressRelease,
    build_release,
    load_boilerplate,
    load_contact,
)
from outreach.press.style import HouseStyle, load_house_style
from outreach.press.zones import embargo_line_in


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
    if release.embargoed_until is not None:
        zones = pitched_zones(finding, settings, data.contact)
        if zones:
            line = embargo_line_in(release.embargoed_until, zones)
            release = replace(release, release_line=line)
    return release, choice


def pitched_zones(finding: Finding, settings: Settings, contact: MediaContact) -> list[str]:
    """The zones of the journalists this finding is pitched to (their own, else the press
    office's): the kit and the newsroom page state the embargo in each of them too."""
    journalists = load_journalists(settings.paths.press / "journalists.csv")
    chosen, _ = match_journalists(finding, journalists, finding.public_from)
    zones = {j.timezone or contact.timezone for j in chosen}
    return sorted(zone for zone in zones if zone)
