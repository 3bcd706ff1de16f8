"""The press kit: every file a journalist needs, with a manifest of checksums, and a ZIP.

The kit lives at an unguessable address (128 bits from an HMAC of the finding id under a
secret), so it can go out under embargo without being findable. The secret comes from
``OUTREACH_PRESS_SECRET``, or is made once and kept in the state folder; the release reads it
before rendering and the site's URL map (``SiteUrls.kit``) names each kit's folder with it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from outreach.config import Settings
from outreach.finding import Finding
from outreach.press.release import MediaContact, PressRelease
from outreach.secrets_store import press_secret
from outreach.urls import kit_path, kit_token

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Fixed member dates: the same kit gives the same ZIP bytes."""


def kit_base(finding: Finding, settings: Settings) -> str:
    """The path of a finding's kit folder (under its unguessable token), for callers outside
    rendering (pitches, tests); it reads the secret, so channels ask ``site.urls.kit``."""
    return kit_path(kit_token(press_secret(settings), finding.id))


@dataclass(frozen=True)
class KitFile:
    name: str
    content: bytes
    description: str


def vcard(contact: MediaContact) -> bytes:
    def escape(value: str) -> str:
        value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
        return " ".join(value.splitlines())  # a line break would start a new property

    # N is Family;Given;Additional;Prefix;Suffix: "Alex Morgan" is N:Morgan;Alex;;;. A name
    # of one word is all family name; everything before the last word is the given name.
    given, _, family = contact.name.strip().rpartition(" ")
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"FN:{escape(contact.name)}",
        f"N:{escape(family)};{escape(given)};;;",
        f"ORG:{escape(contact.organisation)}",
        f"TITLE:{escape(contact.role)}",
        f"EMAIL;TYPE=WORK:{escape(contact.email)}",
        f"TEL;TYPE=WORK,VOICE:{escape(contact.phone)}",
        "END:VCARD",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def fact_sheet(release: PressRelease) -> bytes:
    lines = [f"Fact sheet: {release.headline}", ""]
    for stat in release.stats:
        marker = " (illustrative figure)" if stat.illustrative else ""
        source = f"{stat.source} {stat.source_url}" if stat.source_url else stat.source
        lines += [f"{stat.value} {stat.label}{marker}", f"  Source: {source}", ""]
    return "\n".join(lines).encode("utf-8")


def quotes_sheet(release: PressRelease) -> bytes:
    return ("\n\n".join(release.quotes) + "\n").encode("utf-8")


def manifest(files: list[KitFile]) -> bytes:
    entries = [
        {
            "name": f.name,
            "bytes": len(f.content),
            "sha256": hashlib.sha256(f.content).hexdigest(),
            "description": f.description,
        }
        for f in sorted(files, key=lambda f: f.name)
    ]
    return (json.dumps({"files": entries}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def kit_zip(files: list[KitFile], folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files, key=lambda f: f.name):
            info = zipfile.ZipInfo(f"{folder}/{file.name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.content)
    return buffer.getvalue()


def image_sidecar(caption: str, credit: str, licence: str, alt: str) -> bytes:
    return (f"Caption: {caption}\nCredit: {credit}\nLicence: {licence}\nAlt text: {alt}\n").encode()
