"""The subscriber web app over real HTTP: sign-up, confirmation, preferences, unsubscribe."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup
from web_tools import WebApp

from outreach.config import Settings
from outreach.subscribers import SubscriberStore


@pytest.fixture
def web(web_app: WebApp) -> tuple[str, Settings]:
    """The app served by uvicorn on a loopback port, in a thread."""
    return web_app.base, web_app.settings


def form_fields(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    return {
        i["name"]: i.get("value", "") for i in soup.find_all("input") if i.get("type") == "hidden"
    }


def test_sign_up_confirm_change_topics_and_unsubscribe(
    web: tuple[str, Settings], web_app: WebApp
) -> None:
    base, settings = web
    store = SubscriberStore(settings.paths.subscribers)
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/newsletter/")
        assert page.status_code == 200
        soup = BeautifulSoup(page.text, "html.parser")
        assert len(soup.find_all("input", attrs={"name": "topics"})) == 6
        csrf = form_fields(page.text)["csrf"]
        assert client.cookies.get("outreach_csrf") == csrf

        forged = client.post(
            "/newsletter/subscribe",
            data={"csrf": "wrong", "email": "ama@example.com", "topics": ["food-agriculture"]},
        )
        assert forged.status_code == 403
        assert store.get("ama@example.com") is None

        done = client.post(
            "/newsletter/subscribe",
            data={
                "csrf": csrf,
                "email": "Ama@Example.com",
                "name": "Ama",
                "topics": ["food-agriculture", "scope-3-climate"],
            },
        )
        assert done.status_code == 200 and "Check your inbox" in done.text
        assert store.get("ama@example.com").status == "pending"

        web_app.drain()  # the confirmation goes out after the answer
        (mail,) = list(settings.paths.outbox.rglob("*.eml"))
        confirmation = message_from_bytes(mail.read_bytes(), policy=policy.default)
        link = re.search(
            r"https?://\S+/newsletter/confirm\?token=\S+", confirmation.get_content()
        ).group(0)
        bad = client.get(
            "/newsletter/confirm", params={"token": "x" + urlsplit(link).query.split("=", 1)[1]}
        )
        assert bad.status_code == 400
        confirmed = client.get(link.replace(base, "/"))
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert store.get("Ama@example.com").status == "confirmed"

        preferences_link = (
            BeautifulSoup(confirmed.text, "html.parser")
            .find("a", string="Change your topics at any time")["href"]
            .replace(base, "/")
        )
        preferences = client.get(preferences_link)
        checked = [
            i["value"]
            for i in BeautifulSoup(preferences.text, "html.parser").find_all(
                "input", attrs={"name": "topics"}
            )
            if i.has_attr("checked")
        ]
        assert checked == ["food-agriculture", "scope-3-climate"]
        saved = client.post(
            preferences_link,
            data={"csrf": form_fields(preferences.text)["csrf"], "topics": ["apparel-textiles"]},
        )
        assert saved.status_code == 200
        assert store.get("Ama@example.com").topics == ("apparel-textiles",)

    from outreach.campaign import link_secret
    from outreach.tokens import make_token

    token = make_token(link_secret(settings), "unsubscribe", "Ama@example.com")
    with httpx.Client(
        base_url=base, follow_redirects=False
    ) as mail_client:  # a mail client: no cookies
        shown = mail_client.get("/newsletter/unsubscribe", params={"token": token})
        assert shown.status_code == 200 and "<button" in shown.text
        assert store.get("Ama@example.com").status == "confirmed", "GET changes nothing"
        forged = mail_client.post(
            "/newsletter/unsubscribe",
            params={"token": token[:-2] + "xx"},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert forged.status_code == 400
        assert store.get("Ama@example.com").status == "confirmed"
        one_click = mail_client.post(
            "/newsletter/unsubscribe",
            params={"token": token},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert one_click.status_code == 200 and "location" not in one_click.headers
        assert store.get("Ama@example.com").status == "unsubscribed"


def test_tokens_for_one_purpose_do_not_open_another(web: tuple[str, Settings]) -> None:
    base, settings = web
    from outreach.campaign import link_secret
    from outreach.tokens import make_token

    store = SubscriberStore(settings.paths.subscribers)
    from conftest import NOW

    store.sign_up("b@example.com", "B", ["food-agriculture"], "test", NOW)
    preferences_token = make_token(link_secret(settings), "preferences", "b@example.com")
    with httpx.Client(base_url=base) as client:
        response = client.post(
            "/newsletter/unsubscribe",
            params={"token": preferences_token},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert response.status_code == 400
        assert (
            client.get("/newsletter/confirm", params={"token": preferences_token}).status_code
            == 400
        )
    assert store.get("b@example.com").status == "pending"
