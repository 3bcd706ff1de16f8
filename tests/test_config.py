"""Configuration: file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.config import ConfigError, load_settings


def test_environment_overrides_the_file(project: Path) -> None:
    settings = load_settings(
        project / "outreach.toml",
        environ={
            "OUTREACH_SITE__BASE_URL": "https://news.example.org",
            "OUTREACH_PATHS__PUBLIC": "/srv/site",
        },
    )
    assert settings.site.base_url == "https://news.example.org/"
    assert settings.paths.public == Path("/srv/site")
    assert settings.paths.findings == project / "findings"
    assert settings.paths.ledger == project / "state" / "ledger.sqlite"


def test_embedded_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.site.base_url == "http://127.0.0.1:8000/"
    assert settings.paths.public == tmp_path / "public"
    assert settings.channel("blog").platforms == ["static"]


def test_bad_values_name_the_key_and_the_variable(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(project / "outreach.toml", environ={"OUTREACH_SITE__BASE_URL": "example.org"})
    message = str(caught.value)
    assert "site.base_url" in message and "https://example.org/" in message
    assert "OUTREACH_SITE__BASE_URL" in message


def test_unknown_keys_and_broken_toml_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "outreach.toml"
    config.write_text("[site]\ntitel = 'x'\n")
    with pytest.raises(ConfigError, match=r"site\.titel"):
        load_settings(config, environ={})
    config.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_config_pointing_at_a_folder_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"OUTREACH_CONFIG": str(tmp_path)})
    assert str(caught.value) == (
        f"{tmp_path}: is a folder, not a configuration file; point OUTREACH_CONFIG "
        "(or --config) at the outreach.toml file"
    )


def test_config_that_is_not_utf8_names_the_file_and_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "outreach.toml"
    config.write_bytes("[site]\ntitle = 'Caf\u00e9'\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value) == (
        f"{config}: not UTF-8 text (byte 19 is 0xe9); save the file as UTF-8"
    )


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("OUTREACH_NEWSLETTER__RATE_PER_SECOND", "inf", "newsletter.rate_per_second"),
        ("OUTREACH_NEWSLETTER__RATE_PER_SECOND", "nan", "newsletter.rate_per_second"),
        ("OUTREACH_NEWSLETTER__RATE_PER_SECOND", "1e9", "newsletter.rate_per_second"),
        ("OUTREACH_NEWSLETTER__BATCH_SIZE", "10000000", "newsletter.batch_size"),
        ("OUTREACH_MAIL__SMTP_PORT", "99999", "mail.smtp_port"),
        ("OUTREACH_MAIL__SMTP_PORT", "0", "mail.smtp_port"),
        ("OUTREACH_WORDPRESS__TIMEOUT_SECONDS", "inf", "wordpress.timeout_seconds"),
        ("OUTREACH_WORDPRESS__BACKOFF_SECONDS", "inf", "wordpress.backoff_seconds"),
        ("OUTREACH_WORDPRESS__BACKOFF_SECONDS", "-1", "wordpress.backoff_seconds"),
    ],
)
def test_numbers_out_of_range_are_refused_naming_the_key(
    project: Path, variable: str, value: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(project / "outreach.toml", environ={variable: value})
    message = str(caught.value)
    assert message.startswith(f"{project / 'outreach.toml'}: {key}: ")
    assert f"(or set {variable})" in message


def test_an_invalid_sender_address_is_refused(project: Path) -> None:
    for key in ("FROM_EMAIL", "UNSUBSCRIBE_MAILTO"):
        with pytest.raises(ConfigError) as caught:
            load_settings(
                project / "outreach.toml",
                environ={f"OUTREACH_NEWSLETTER__{key}": "news at example"},
            )
        message = str(caught.value)
        assert f"newsletter.{key.lower()}: Value error, not an email address" in message
        assert "write e.g. 'news@example.org'" in message
    with pytest.raises(ConfigError, match=r"podcast\.owner_email: Value error, not an email"):
        load_settings(project / "outreach.toml", environ={"OUTREACH_PODCAST__OWNER_EMAIL": "@x"})


def test_unknown_channels_and_platforms_are_refused(project: Path) -> None:
    config = project / "outreach.toml"
    config.write_text(config.read_text() + '\n[channels.blgo]\nplatforms = ["static"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert "channels: Value error, no channel named 'blgo'" in str(caught.value)
    assert (
        "choose from: blog, events, newsletter, newsroom, podcast, press, reports, social, wordpress"
        in str(caught.value)
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(
            project / "outreach.toml", environ={"OUTREACH_CHANNELS__BLOG__PLATFORMS": "ftp"}
        )
    assert "channels.blog.platforms: Value error, no platform named 'ftp'" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("OUTREACH_WORDPRESS__URL", "wordpress.url"),
        ("OUTREACH_SITE__BASE_URL", "site.base_url"),
        ("OUTREACH_STORAGE__ENDPOINT_URL", "storage.endpoint_url"),
        ("OUTREACH_NEWSLETTER__WEB_BASE_URL", "newsletter.web_base_url"),
    ],
)
def test_a_url_with_credentials_is_refused_without_repeating_them(
    project: Path, variable: str, key: str
) -> None:
    url = "https://comms-bot:hunter2-secret@blog.example.org/"
    with pytest.raises(ConfigError) as caught:
        load_settings(project / "outreach.toml", environ={variable: url})
    message = str(caught.value)
    assert f"{key}: Value error, must not contain a user name or password" in message
    assert "hunter2" not in message and "comms-bot" not in message


def test_bootstrap_refuses_limits_out_of_range_before_changing_anything() -> None:
    from flows.bootstrap import BootstrapError, check_environment

    for variable, value in [
        ("OUTREACH_SMTP_RATE", "inf"),
        ("OUTREACH_SMTP_RATE", "0"),
        ("OUTREACH_WORDPRESS_RATE", "fast"),
        ("OUTREACH_SMTP_CONNECTIONS", "99999"),
    ]:
        with pytest.raises(BootstrapError) as caught:
            check_environment({variable: value})
        assert str(caught.value).startswith(f"{variable}={value!r} is not usable: write ")
    with pytest.raises(BootstrapError, match=r"OUTREACH_SMTP_CONNECTIONS=2\.5 must be a whole"):
        check_environment({"OUTREACH_SMTP_CONNECTIONS": "2.5"})
    check_environment({"OUTREACH_SMTP_RATE": "12.5", "OUTREACH_SMTP_CONNECTIONS": "8"})
