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
