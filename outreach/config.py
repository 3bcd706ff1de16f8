"""Configuration: one TOML file, environment variables on top, embedded defaults underneath.

The file holds no secrets: credentials come from the environment or Prefect blocks. Any
setting can be overridden with ``OUTREACH_<SECTION>__<KEY>``, e.g.
``OUTREACH_SITE__BASE_URL=https://example.org/``; list settings take commas
(``OUTREACH_CHANNELS__BLOG__PLATFORMS=static``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

CONFIG_FILE_NAME = "outreach.toml"
ENV_PREFIX = "OUTREACH_"
LIST_KEYS = {"platforms", "websub_hubs"}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the source, the key and the fix."""


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

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as 'https://example.org/'")
        if len(value) > 200:  # every page, feed item and email link starts with it
            raise ValueError(f"is {len(value)} characters long; use a URL of at most 200")
        return value if value.endswith("/") else value + "/"


class PathSettings(_Section):
    findings: Path = Path("findings")
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
    owner_email: str = "podcast@example.org"
    copyright: str = "CC BY 4.0, Durable Supply Chains Programme"
    cover: Path = Path("podcast/cover.jpg")
    """Show art, relative to the media folder."""
    category: str = "Business"
    subcategory: str | None = "Non-Profit"
    explicit: bool = False
    locked: bool = True
    guid: str | None = None
    """Podcasting 2.0 GUID; derived from the feed URL when empty. Set it before moving hosts."""
    funding_url: str | None = None
    funding_text: str = "Support the programme"
    persons: list[PodcastPerson] = [PodcastPerson(name="Programme research team")]
    channels: Annotated[int, Field(ge=1, le=2)] = 1
    bitrate_kbps: int = 64
    websub_hubs: list[str] = []
    """WebSub hubs to notify when the feed changes (none by default: no network)."""
    podcast_index_pubnotify: str | None = None
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

    @field_validator("owner_email")
    @classmethod
    def _owner_email(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError(
                "owner_email must be an email address: directories use it to verify ownership"
            )
        return value


class MailSettings(_Section):
    """Where email goes. The SMTP password comes from OUTREACH_SMTP_PASSWORD, never this file."""

    platform: Literal["outbox", "smtp"] = "outbox"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None


class NewsletterSettings(_Section):
    """The newsletter's sender, list identity and sending pace. The DKIM private key is a
    file path here or the key itself in OUTREACH_DKIM_PRIVATE_KEY, never in this file."""

    from_name: str = "Durable Supply Chains"
    from_email: str = "newsletter@example.org"
    list_id: str = "findings.durable-supply-chains.example.org"
    postal_address: str = "1 Example Street, London, United Kingdom"
    unsubscribe_mailto: str = "unsubscribe@example.org"
    web_base_url: str | None = None
    """Where `outreach serve` answers sign-up and unsubscribe links; defaults to site.base_url."""
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_key_file: Path | None = None
    rate_per_second: Annotated[float, Field(gt=0)] = 10.0
    connections: Annotated[int, Field(ge=1, le=16)] = 2
    batch_size: Annotated[int, Field(ge=1)] = 500


class StorageSettings(_Section):
    """S3-compatible object storage for the "s3" platform. Credentials come from boto3's
    usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared files, roles)."""

    bucket: str = ""
    prefix: str = ""
    endpoint_url: str | None = None
    """Leave empty for AWS; set it for other S3-compatible services."""
    region: str | None = None
    public_base_url: str | None = None
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
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 5
    """Tries per request on resets, timeouts, 429 and 5xx answers, with growing waits."""
    backoff_seconds: Annotated[float, Field(ge=0)] = 1.0
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
        return value if value.endswith("/") else value + "/"


class ChannelSettings(_Section):
    platforms: list[str] = ["static"]


class Settings(_Section):
    site: SiteSettings = SiteSettings()
    paths: PathSettings = PathSettings()
    podcast: PodcastSettings = PodcastSettings()
    mail: MailSettings = MailSettings()
    newsletter: NewsletterSettings = NewsletterSettings()
    storage: StorageSettings = StorageSettings()
    wordpress: WordPressSettings = WordPressSettings()
    channels: dict[str, ChannelSettings] = {
        "blog": ChannelSettings(),
        "podcast": ChannelSettings(),
        "press": ChannelSettings(),
        "newsroom": ChannelSettings(),
        "newsletter": ChannelSettings(platforms=[]),
    }
    root: Path = Path(".")

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
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: no such configuration file; create it or unset OUTREACH_CONFIG"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
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
    return settings.model_copy(update={"paths": PathSettings(**resolved)})
