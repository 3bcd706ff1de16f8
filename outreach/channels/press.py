"""The press channel: the release and the press kit, at an unguessable address.

Not a public channel: the kit is rendered as soon as a finding is released, embargo or not,
so journalists can prepare. Nothing links to it from the site, its pages carry ``noindex``,
and no index, feed or sitemap lists it. ``press/kit/index.html`` lists nothing, so a host
that shows folder listings shows no kit's token. The public newsroom page is the ``newsroom``
channel, which waits for the embargo to lift like the blog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import ClassVar

from outreach.actions import Action, HookContext, PitchFindings
from outreach.channels.base import BaseChannel, Deliverable, RenderError, Site, SitePage
from outreach.config import Settings
from outreach.finding import Finding
from outreach.media_files import MEDIA_TYPES, image_format
from outreach.media_files import image_name as published_image_name
from outreach.podcast.art import draw_episode_art
from outreach.podcast.audio import cached_clip, cached_mastering_key, master
from outreach.podcast.show import audio_profile, show_cover
from outreach.podcast.tags import EpisodeTags, tag_mp3
from outreach.press.assemble import load_press_data, release_for
from outreach.press.journalists import load_journalists
from outreach.press.kit import (
    KitFile,
    fact_sheet,
    image_sidecar,
    kit_zip,
    manifest,
    quotes_sheet,
    vcard,
)
from outreach.press.notices import editorial_notices
from outreach.reports.launch import (
    PitchReport,
    announcement_of,
    launch_edition,
    launch_key,
    read_announcement,
)
from outreach.reports.model import Report
from outreach.share_image import share_image_for
from outreach.templating import environment
from outreach.urls import KIT_FOLDER, PRESS_KITS, kit_zip_name

KIT_INDEX_TEMPLATE = "press/kit_index.html.j2"


class PressChannel(BaseChannel):
    name: ClassVar[str] = "press"
    draws_share_images: ClassVar[bool] = True
    public: ClassVar[bool] = False
    links_kits: ClassVar[bool] = True
    hosts: ClassVar[frozenset[str]] = frozenset({PRESS_KITS})
    kinds: ClassVar[frozenset[str]] = frozenset({"finding", "report"})
    """A report gets a kit (with its PDF and cover) and pitches, as a finding does."""
    lists: ClassVar[frozenset[str] | None] = frozenset({"finding"})

    def check_inputs(self, settings: Settings) -> list[str]:
        """The contact, boilerplate, style and journalist list must be usable."""
        problems = []
        for check in (
            lambda: load_press_data(settings),
            lambda: load_journalists(settings.paths.press / "journalists.csv"),
        ):
            try:
                check()
            except (RenderError, ValueError) as exc:
                problems.append(str(exc))
        return problems

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        if isinstance(finding, Report):
            return launch_key(self.name, finding, settings)
        if finding.episode is None:
            return None
        seconds = load_press_data(settings).style.release.clip_seconds
        source = settings.paths.media / finding.episode.audio
        key = cached_mastering_key(source, audio_profile(settings), settings.paths.audio_cache)
        return f"clip-{key}-{seconds:g}s"

    def prepare(
        self, finding: Finding, settings: Settings, progress: Callable[[float], None] | None = None
    ) -> Path | None:
        """The episode's first seconds for the kit, cut from the mastered episode (both
        cached), so rendering only reads the clip. A report: its edition (findings, PDF)."""
        if isinstance(finding, Report):
            return launch_edition(finding, settings)  # type: ignore[return-value]
        if finding.episode is None:
            return None
        seconds = load_press_data(settings).style.release.clip_seconds
        source = settings.paths.media / finding.episode.audio
        cache = settings.paths.audio_cache
        try:
            return cached_clip(
                master(source, cache, audio_profile(settings), progress), seconds, cache
            )
        except Exception as exc:
            raise RenderError(f"{finding.source_path}: episode.audio {source}: {exc}") from exc

    def after_publish(self, context: HookContext) -> list[Action]:
        """Pitch the findings just released (not on a rebuild: nothing new to tell)."""
        if context.rebuild or not context.released:
            return []
        reports = [r for r in context.released if isinstance(r, Report)]
        if reports:  # the report kind's part: pitches only (a report has no corrections)
            return [
                PitchReport((read_announcement(report, context.settings),), report.id)
                for report in reports
            ]
        live = tuple(f for f in context.released if f.retraction is None)
        pitches: list[Action] = [PitchFindings((finding,)) for finding in live]  # a gate each
        return pitches + editorial_notices(live, context.settings)

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        if isinstance(finding, Report):
            return self._report_kit(finding, site)
        if finding.retraction is not None:  # the kit is taken down, every file of it
            return []
        return self._kit(finding, site)

    def _report_kit(self, report: Report, site: Site) -> list[Deliverable]:
        """A report's kit: the release (headlines from its headline indicator), fact sheet,
        quotes, contact, share image, the cover and the PDF edition, at the kit address of
        ``report:<id>``; recorded under the report's ledger key."""
        edition = site.prepared.get(report.id)
        if edition is None or getattr(edition, "report", None) is None:
            raise RenderError(
                f"{report.source_path}: the report's findings were not prepared before "
                "rendering its press kit; render it through the release (it runs prepare)"
            )
        extra = []
        if edition.pdf is not None:
            extra.append(KitFile(f"{report.id}.pdf", edition.pdf, "the report (PDF edition)"))
        made = self._kit(announcement_of(edition), site, extra)
        return [Deliverable(d.path, d.content, report.id) for d in made]

    def _kit(
        self, finding: Finding, site: Site, extra: list[KitFile] | None = None
    ) -> list[Deliverable]:
        settings = site.settings
        data = load_press_data(settings)
        release, _ = release_for(finding, settings, data)
        env = environment(settings.paths.templates)
        files = [
            KitFile(
                "release.html",
                env.get_template("press/release.html.j2")
                .render(release=release, language=settings.site.language)
                .encode("utf-8"),
                "the release, formatted for screen and print",
            ),
            KitFile(
                "release.txt",
                env.get_template("press/release.txt.j2").render(release=release).encode("utf-8"),
                "the release as plain text",
            ),
            KitFile("fact-sheet.txt", fact_sheet(release), "key figures with their sources"),
            KitFile("contact.vcf", vcard(data.contact), "the media contact's card"),
            KitFile(
                "share.png",
                share_image_for(finding, settings),
                "1200x630 image for social posts",
            ),
        ]
        if release.quotes:
            files.append(KitFile("quotes.txt", quotes_sheet(release), "quotes with their speakers"))
        image = finding.image
        image_bytes = (settings.paths.media / image.file).read_bytes()
        image_name = published_image_name(image_bytes)
        files.append(KitFile(f"images/{image_name}", image_bytes, "full-resolution image"))
        files.append(
            KitFile(
                f"images/{image_name}.txt",
                image_sidecar(image.caption, image.credit, image.licence, image.alt),
                "caption, credit, licence and alt text for the image",
            )
        )
        episode = finding.episode
        if episode is not None:
            clip = site.prepared.get(finding.id)
            if not isinstance(clip, Path) or not clip.is_file():
                raise RenderError(
                    f"{finding.source_path}: the press kit's clip of episode.audio "
                    f"{episode.audio} was not prepared before rendering (or left the audio "
                    "cache); run the release again"
                )
            seconds = data.style.release.clip_seconds
            if episode.image:
                art = (settings.paths.media / episode.image).read_bytes()
            else:
                art = draw_episode_art(show_cover(settings), finding.title, episode.number)
            tags = EpisodeTags(
                title=f"{finding.title} (first {seconds} seconds)",
                artist=settings.podcast.author,
                album=settings.podcast.title,
                track=episode.number,
                date=finding.published,
                comment=finding.summary,
                link=site.urls.post(finding.id),
                cover=art,
                cover_mime=MEDIA_TYPES[image_format(art)],
            )
            files.append(
                KitFile(
                    "episode-clip.mp3",
                    tag_mp3(clip.read_bytes(), tags),
                    f"the first {seconds} seconds of the podcast episode",
                )
            )
            if episode.transcript:
                suffix = PurePosixPath(episode.transcript).suffix.lower()
                files.append(
                    KitFile(
                        f"transcript{suffix}",
                        (settings.paths.media / episode.transcript).read_bytes(),
                        "the episode transcript",
                    )
                )
        files += extra or []
        files.append(
            KitFile("manifest.json", manifest(files), "every file in the kit with its SHA-256")
        )

        base = site.urls.kit(finding.id)
        stem = finding.id.replace(":", "-")  # a report's announcement is "report:<id>"
        zip_name = kit_zip_name(stem)
        page = env.get_template("press/kit.html.j2").render(
            site=site, release=release, files=files, zip_name=zip_name, canonical=site.url(base)
        )
        deliverables = [Deliverable(base + f.name, f.content, finding.id) for f in files]
        deliverables.append(
            Deliverable(base + zip_name, kit_zip(files, f"{stem}-press-kit"), finding.id)
        )
        deliverables.append(Deliverable(base + "index.html", page.encode("utf-8"), finding.id))
        return deliverables

    def site_pages(self, site: Site) -> list[SitePage]:
        """An index of the kits' folder that lists nothing (hosts that list folders would show
        every token, embargoed findings' included)."""
        path = KIT_FOLDER + "index.html"

        def render() -> list[Deliverable]:
            page = (
                environment(site.settings.paths.templates)
                .get_template(KIT_INDEX_TEMPLATE)
                .render(site=site, canonical=site.url(KIT_FOLDER))
            )
            return [Deliverable(path, page.encode("utf-8"))]

        return [SitePage("kit-index", (path,), site.page_key("kit-index", ()), render)]


CHANNEL = PressChannel()
