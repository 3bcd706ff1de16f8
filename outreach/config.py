"""Configuration: one TOML file, environment variables on top, embedded defaults underneath.

The file holds no secrets: credentials come from the environment or Prefect blocks. Any
setting can be overridden with ``OUTREACH_<SECTION>__<KEY>``, e.g.
``OUTREACH_SITE__BASE_URL=https://example.org/``; list settings take commas
(``OUTREACH_CHANNELS__BLOG__PLATFORMS=static``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from outreach.errors import EXIT_CONFIG, OutreachError
from outreach.store import bind_state

CONFIG_FILE_NAME = "outreach.toml"
ENV_PREFIX = "OUTREACH_"
LIST_KEYS = {"platforms", "websub_hubs", "test_recipients"}
PLATFORM_NAMES = ("static", "s3", "wordpress", "bluesky", "mastodon")
"""The platforms a channel can push to (outreach.platforms.registry builds them)."""


class ConfigError(OutreachError):
    """The configuration cannot be used; the message names the source, the key and the fix."""

    exit_code: ClassVar[int] = EXIT_CONFIG
    before_any_change: ClassVar[bool] = True
    heading: ClassVar[str] = "Configuration error: "


def _email_address(value: str) -> str:
    """A syntactically valid address: mail servers and podcast directories refuse others."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address ({exc}); write e.g. 'news@example.org'") from None
    return value


def _url(value: str | None) -> str | None:
    """An absolute http(s) URL without a user name or password: URLs appear in messages,
    logs and published pages, so credentials in one would leak (the URL is not repeated)."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL such as 'https://example.org/'")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not contain a user name or password (they would show in messages and logs); "
            "remove the 'user:password@' part: credentials go in environment variables or "
            "Prefect Secret blocks"
        )
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]
Url = Annotated[str, AfterValidator(_url)]
OptionalUrl = Annotated[str | None, AfterValidator(_url)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    title: str = "Durable Supply Chains"
    tagline: str = "Research findings on durable smallholder commodity supply chains"
    base_url: str = "http://127.0.0.1:8000/"
    language: str = "en-GB"
    organisation: str = "Durable Supply Chains Programme"
    author: str = "Programme research team"
    posts_per_page: Annotated[int, Field(ge=1, le=100)] = 10
    timezone: str = "UTC"
    """The team's time zone (an IANA name such as 'Europe/London'): ``outreach calendar``
    shows times in it, beside UTC."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"'{value}' is not a time zone name; write an IANA name such as "
                "'Europe/London', 'Africa/Accra' or 'UTC'"
            ) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        _url(value)
        if len(value) > 200:  # every page, feed item and email link starts with it
            raise ValueError(f"is {len(value)} characters long; use a URL of at most 200")
        return value if value.endswith("/") else value + "/"


class PathSettings(_Section):
    findings: Path = Path("findings")
    reports: Path = Path("reports")
    """Report files (``reports/<id>.md``): outreach.reports.model reads them."""
    events: Path = Path("events")
    """Event files (``events/<id>.md``): outreach.events.model reads them."""
    media: Path = Path("media")
    press: Path = Path("press")
    templates: Path = Path("templates")
    public: Path = Path("public")
    build: Path = Path("build")
    state: Path = Path("state")
    outbox: Path = Path("outbox")

    @property
    def ledger(self) -> Path:
        return self.state / "ledger.sqlite"

    @property
    def subscribers(self) -> Path:
        return self.state / "subscribers.sqlite"

    @property
    def audio_cache(self) -> Path:
        return self.state / "cache" / "audio"


class PodcastPerson(_Section):
    name: str
    role: str = "host"
    href: str | None = None


class PodcastSettings(_Section):
    """The show: what directories list, and how episodes are mastered."""

    title: str = "Durable Supply Chains"
    description: str = (
        "Short conversations on what makes smallholder commodity supply chains last, from the "
        "Durable Supply Chains Programme's action research."
    )
    author: str = "Durable Supply Chains Programme"
    owner_name: str = "Programme communications team"
    owner_email: EmailAddress = "podcast@example.org"
    copyright: str = "CC BY 4.0, Durable Supply Chains Programme"
    cover: Path = Path("podcast/cover.jpg")
    """Show art, relative to the media folder."""
    category: str = "Business"
    subcategory: str | None = "Non-Profit"
    explicit: bool = False
    locked: bool = True
    guid: str | None = None
    """Podcasting 2.0 GUID; derived from the feed URL when empty. Set it before moving hosts."""
    funding_url: OptionalUrl = None
    funding_text: str = "Support the programme"
    persons: list[PodcastPerson] = [PodcastPerson(name="Programme research team")]
    channels: Annotated[int, Field(ge=1, le=2)] = 1
    bitrate_kbps: int = 64
    websub_hubs: list[Url] = []
    """WebSub hubs to notify when the feed changes (none by default: no network)."""
    podcast_index_pubnotify: OptionalUrl = None
    """Podcast Index endpoint to notify, e.g. https://api.podcastindex.org/api/1.0/hub/pubnotify"""

    # Field validators, not one model validator: an error then names its key and the real
    # variable (OUTREACH_PODCAST__BITRATE_KBPS), not a section no variable can set.
    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        from outreach.podcast.categories import category_problem

        problem = category_problem(value, None)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("subcategory")
    @classmethod
    def _subcategory(cls, value: str | None, info: ValidationInfo) -> str | None:
        from outreach.podcast.categories import category_problem

        category = info.data.get("category")
        problem = category_problem(category, value) if category else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("bitrate_kbps")
    @classmethod
    def _bitrate(cls, value: int, info: ValidationInfo) -> int:
        channels = info.data.get("channels")
        allowed = (64, 80, 96) if channels == 1 else (128, 160, 192)
        if channels is not None and value not in allowed:
            raise ValueError(
                f"bitrate_kbps {value} does not suit {channels} channel(s); use one of {allowed}"
            )
        return value


class MailSettings(_Section):
    """Where email goes. The SMTP password comes from OUTREACH_SMTP_PASSWORD, never this file."""

    platform: Literal["outbox", "smtp"] = "outbox"
    smtp_host: str = "localhost"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None


class NewsletterSettings(_Section):
    """The newsletter's sender, list identity and sending pace. The DKIM private key is a
    file path here or the key itself in OUTREACH_DKIM_PRIVATE_KEY, never in this file."""

    from_name: str = "Durable Supply Chains"
    from_email: EmailAddress = "newsletter@example.org"
    list_id: str = "findings.durable-supply-chains.example.org"
    postal_address: str = "1 Example Street, London, United Kingdom"
    unsubscribe_mailto: EmailAddress = "unsubscribe@example.org"
    web_base_url: OptionalUrl = None
    """Where `outreach serve` answers sign-up and unsubscribe links; defaults to site.base_url."""
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_key_file: Path | None = None
    rate_per_second: Annotated[PositiveFloat, Field(le=1000)] = 10.0
    """Messages per second, at most 1000 (a relay takes far fewer; 0 or infinity is refused)."""
    connections: Annotated[int, Field(ge=1, le=16)] = 2
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500


class StorageSettings(_Section):
    """S3-compatible object storage for the "s3" platform. Credentials come from boto3's
    usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared files, roles)."""

    bucket: str = ""
    prefix: str = ""
    endpoint_url: OptionalUrl = None
    """Leave empty for AWS; set it for other S3-compatible services."""
    region: str | None = None
    public_base_url: OptionalUrl = None
    """Where the bucket is served (a CDN); defaults to site.base_url."""
    attempts: Annotated[int, Field(ge=1, le=10)] = 5
    """Tries per request on resets, timeouts, throttling and 5xx answers (boto3's backoff)."""


class WordPressSettings(_Section):
    """The team's WordPress for the "wordpress" platform. The application password comes from
    OUTREACH_WORDPRESS_APP_PASSWORD or the Prefect Secret block
    "outreach-wordpress-app-password", never from this file."""

    url: str = ""
    """The site's address, e.g. https://blog.example.org/ (REST calls use ?rest_route=, which
    works with and without pretty permalinks)."""
    username: str = ""
    status: Literal["publish", "draft"] = "publish"
    """"publish": posts go live (embargoed ones are scheduled for the lift); "draft": an
    editor publishes them by hand."""
    canonical: bool = True
    """Point each post's canonical link at the static site's page (needs the small plugin in
    templates/wordpress/mu-plugins on the WordPress side)."""
    timeout_seconds: Annotated[PositiveFloat, Field(le=600)] = 30.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 5
    """Tries per request on resets, timeouts, 429 and 5xx answers, with growing waits."""
    backoff_seconds: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 1.0
    """The first wait between tries; it doubles each time (a Retry-After answer wins)."""

    @field_validator("url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be the WordPress site's address, e.g. 'https://blog.example.org/'"
            )
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "must not contain a user name or password (they would show in messages and "
                "logs); remove the 'user:password@' part and set wordpress.username and the "
                "application password (OUTREACH_WORDPRESS_APP_PASSWORD)"
            )
        return value if value.endswith("/") else value + "/"


class CalendarSettings(_Section):
    """The team's CalDAV calendar for the "calendar" platform: events are created or updated
    there by UID when released, and deleted when cancelled. The password comes from
    OUTREACH_CALDAV_PASSWORD, never from this file; no url: the platform is off."""

    url: OptionalUrl = None
    """The calendar collection, e.g. https://dav.example.org/team/events/"""
    username: str = ""
    timeout_seconds: Annotated[PositiveFloat, Field(le=600)] = 30.0


def _refuse_unknown(kind: str, names: Iterable[str], known: Sequence[str], where: str = "") -> None:
    """One message for every name that is not one of ``known``, with the choices."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"no {kind} named {', '.join(repr(name) for name in unknown)}{where}; "
            f"choose from: {', '.join(known)}"
        )


def check_state_url(value: str | None) -> str | None:
    """A PostgreSQL URL without a password: the password comes from OUTREACH_STATE_PASSWORD
    or a Prefect Secret block, since the URL appears in messages and logs."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError(
            "must be a PostgreSQL URL such as 'postgresql://outreach@db.example.org/outreach' "
            "(leave [state] url out to keep the state in SQLite files in paths.state)"
        )
    if parts.password is not None:
        raise ValueError(
            "must not contain a password (it would show in messages and logs); remove the "
            "':password' part and set OUTREACH_STATE_PASSWORD or the Prefect Secret block "
            "'outreach-state-password'"
        )
    return value


class StateSettings(_Section):
    """Where the ledger, send log, audit log and subscribers live: SQLite files in paths.state
    (the default), or one PostgreSQL database shared by every worker (``url``)."""

    url: Annotated[str | None, AfterValidator(check_state_url)] = None

    @property
    def stateless(self) -> bool:
        """Workers keep nothing on their own disk that another worker needs."""
        return self.url is not None


STATELESS_REFUSED = {
    "static": "writes the site into this machine's paths.public folder, which the other "
    "workers never see; publish to 's3' or 'wordpress' instead",
    "outbox": "writes mail into this machine's paths.outbox folder, where nobody reads it; "
    "set mail.platform = 'smtp'",
}
"""What stateless workers refuse to run, and why (issue: nothing shared but the database)."""


class SocialSettings(_Section):
    """The social channel's networks (platforms "bluesky" and "mastodon"). Credentials come
    from OUTREACH_BLUESKY_APP_PASSWORD and OUTREACH_MASTODON_ACCESS_TOKEN (or the Prefect
    Secret blocks "outreach-bluesky-app-password", "outreach-mastodon-access-token")."""

    bluesky_service: str = "https://bsky.social"
    """The account's PDS (its host), e.g. https://bsky.social."""
    bluesky_handle: str = ""
    mastodon_instance: str = ""
    """The instance's address, e.g. https://mastodon.social."""
    mastodon_visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    thread: bool = False
    """Post a short thread (headline and key stat, two points, the link) instead of one post."""
    timeout_seconds: Annotated[PositiveFloat, Field(le=600)] = 30.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    """Tries per post on resets, timeouts and 5xx answers (each post carries a key the
    server uses to make a repeat the same post)."""


class ChannelSettings(_Section):
    enabled: bool = True
    """Whether releases use this channel at all. A channel is on when its [channels.NAME]
    section is there, unless ``enabled = false``; ``platforms = []`` does not turn it off
    (the newsletter has no platforms: it goes out by mail)."""
    platforms: list[str] = ["static"]

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, value: list[str]) -> list[str]:
        _refuse_unknown("platform", value, PLATFORM_NAMES)
        return value


GATES = ("pitches", "newsletter", "corrections", "retraction", "social")
"""Every approval gate: what reaches people waits for a person's decision at one of these."""
Policy = Literal["required", "auto"]


class ApprovalSettings(_Section):
    """Which gates wait for a person ("required", the default for each) and which pass by
    themselves ("auto"), and the team addresses that get a "[TEST]" copy of each gated email
    when its gate opens (never the real recipients)."""

    pitches: Policy = "required"
    newsletter: Policy = "required"
    corrections: Policy = "required"
    retraction: Policy = "required"
    social: Policy = "required"
    test_recipients: list[EmailAddress] = []

    @model_validator(mode="before")
    @classmethod
    def _known_gates(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in (*GATES, "test_recipients")]
            if unknown:
                raise ValueError(
                    f"no approval gate named {', '.join(repr(k) for k in unknown)}; write "
                    f'{" or ".join(GATES)} = "required" or "auto" (or test_recipients = '
                    '["team@example.org"])'
                )
        return data

    def policy(self, gate: str) -> str:
        """ "required" or "auto" for ``gate`` (a gate this version does not know: required)."""
        return str(getattr(self, gate, "required")) if gate in GATES else "required"


class Settings(_Section):
    site: SiteSettings = SiteSettings()
    paths: PathSettings = PathSettings()
    podcast: PodcastSettings = PodcastSettings()
    mail: MailSettings = MailSettings()
    newsletter: NewsletterSettings = NewsletterSettings()
    storage: StorageSettings = StorageSettings()
    wordpress: WordPressSettings = WordPressSettings()
    approval: ApprovalSettings = ApprovalSettings()
    calendar: CalendarSettings = CalendarSettings()
    state: StateSettings = StateSettings()
    social: SocialSettings = SocialSettings()
    channels: dict[str, ChannelSettings] = {
        "blog": ChannelSettings(),
        "podcast": ChannelSettings(),
        "press": ChannelSettings(),
        "newsroom": ChannelSettings(),
        "newsletter": ChannelSettings(platforms=[]),
        "reports": ChannelSettings(),
    }
    root: Path = Path(".")

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: dict[str, ChannelSettings]) -> dict[str, ChannelSettings]:
        from outreach.channels import available_channels  # channels import this module

        _refuse_unknown("channel", value, sorted(available_channels()), " (a [channels.NAME])")
        return value

    def channel(self, name: str) -> ChannelSettings:
        return self.channels.get(name, ChannelSettings())


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``OUTREACH_A__B=v`` variables into a nested mapping ``{"a": {"b": "v"}}``."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "OUTREACH_CONFIG":
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value.split(",") if keys[-1] in LIST_KEYS else value
    return tree


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML, or a ConfigError saying what is wrong with the file and what to do."""
    where = "point OUTREACH_CONFIG (or --config) at the outreach.toml file"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file; create it or unset OUTREACH_CONFIG"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a configuration file; {where}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); save "
            "the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); {where}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from ``path`` (or ``$OUTREACH_CONFIG``, or ./outreach.toml if present).

    Relative paths in the file are resolved against the file's folder, so the pipeline runs
    the same from any working directory.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("OUTREACH_CONFIG"):
        path = Path(environ["OUTREACH_CONFIG"])
    if path is None and Path(CONFIG_FILE_NAME).is_file():
        path = Path(CONFIG_FILE_NAME)
    data: dict[str, Any] = {}
    root = Path.cwd()
    source = "embedded defaults"
    if path is not None:
        source = str(path)
        data = _read_toml(path)
        root = path.resolve().parent
    data = _merge(data, _env_overrides(environ))
    try:
        settings = Settings.model_validate({**data, "root": root})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            env_name = ENV_PREFIX + "__".join(str(p).upper() for p in error["loc"])
            lines.append(f"{source}: {key}: {error['msg']} (or set {env_name})")
        raise ConfigError("\n".join(lines)) from None
    resolved = {
        name: (value if value.is_absolute() else root / value)
        for name, value in settings.paths.model_dump().items()
    }
    settings = settings.model_copy(update={"paths": PathSettings(**resolved)})
    _refuse_local_outputs(settings, source)
    bind_state(settings.paths.state, settings.state.url)
    return settings


def _refuse_local_outputs(settings: Settings, source: str) -> None:
    """With the state in PostgreSQL, workers share nothing but the database and the
    platforms: a platform writing to this machine's folders would lose work silently."""
    if not settings.state.stateless:
        return
    lines = [
        f"{source}: channels.{name}.platforms: 'static' {STATELESS_REFUSED['static']} "
        "(state.url names PostgreSQL: workers are stateless)"
        for name, channel in sorted(settings.channels.items())
        if "static" in channel.platforms
    ]
    if settings.mail.platform == "outbox":
        lines.append(
            f"{source}: mail.platform: 'outbox' {STATELESS_REFUSED['outbox']} "
            "(state.url names PostgreSQL: workers are stateless)"
        )
    if lines:
        raise ConfigError("\n".join(lines))
