"""One error tree: what the ``outreach`` command and the retry rules rely on."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
import smtplib

import pytest

import flows
import outreach
from outreach.errors import (
    EXIT_CONFIG,
    EXIT_TEMPFAIL,
    OutreachError,
    PlatformUnavailable,
    RenderError,
    is_retryable,
)
from outreach.finding import FindingProblem, FindingsInvalid
from outreach.mail_errors import (
    MailTransient,
    RecipientRefused,
    SenderFailure,
    transient_failure,
)
from outreach.platforms.wordpress_api import WordPressAuthError, WordPressTransient


def project_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in the project's packages (private ones excepted)."""
    found = []
    for package in (outreach, flows):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            loaded = importlib.import_module(module.name)
            for name, value in vars(loaded).items():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == loaded.__name__
                    and not name.startswith("_")
                ):
                    found.append(value)
    return found


def test_every_project_exception_is_in_the_one_tree() -> None:
    classes = project_exceptions()
    assert len(classes) >= 20
    assert [c.__name__ for c in classes if not issubclass(c, OutreachError)] == []


def test_only_failures_a_later_attempt_may_fix_are_retryable() -> None:
    assert is_retryable(WordPressTransient("503", 1.0))
    assert is_retryable(transient_failure(smtplib.SMTPServerDisconnected("gone"), "h", 25))
    for final in (
        WordPressAuthError("refused the credentials"),
        SenderFailure("refused the login"),
        RecipientRefused("a@example.org", "550 no such user"),
        RenderError("bad template"),
        PlatformUnavailable("no bucket"),
        ValueError("not ours"),
    ):
        assert not is_retryable(final), final
    assert isinstance(transient_failure(OSError("reset"), "h", 25), MailTransient)


def test_exit_codes_come_from_the_tree() -> None:
    from outreach.config import ConfigError

    assert ConfigError("x").exit_code == EXIT_CONFIG
    assert WordPressTransient("x").exit_code == EXIT_TEMPFAIL
    assert WordPressAuthError("x").exit_code == 1
    assert SenderFailure("x").exit_code == 1


@pytest.mark.parametrize(
    "error",
    [
        FindingsInvalid([FindingProblem("findings/a.md", "id", "write a slug")]),
        RecipientRefused("a@example.org", "550 no"),
        WordPressTransient("503 from the site", 2.5),
    ],
)
def test_errors_survive_pickling_as_prefect_stores_them(error: OutreachError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
