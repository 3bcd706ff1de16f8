"""The subscriber app against abuse, over real HTTP with real SMTP: takeover of a confirmed
subscription, old links, sign-up bombing, oversized requests, mail failures, headers, CSRF,
token strictness, and the CSV export."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import logging
import re
import socket
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
import pytest
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup
from web_tools import WebApp, smtp_environ

from conftest import NOW, free_port
from outreach.campaign import link_secret
from outreach.subscribers import SubscriberStore
from outreach.tokens import BadToken, make_token, read_token
from smtp_tools import Inbox

TOPIC = "food-agriculture"


def sign_up(
    client: httpx.Client, email: str, name: str = "", topics: tuple[str, ...] = (TOPIC,)
) -> httpx.Response:
    """The public form, as a browser sends it: fetch the page (CSRF cookie), post it back."""
    form = client.get("/newsletter/")
    csrf = BeautifulSoup(form.text, "html.parser").find("input", attrs={"name": "csrf"})["value"]
    return client.post(
        "/newsletter/subscribe",
        data={"csrf": csrf, "email": email, "name": name, "topics": list(topics)},
    )


def main_text(response: httpx.Response) -> str:
    return BeautifulSoup(response.text, "html.parser").find("main").get_text(" ", strip=True)


def accepted_messages(inbox: Inbox) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=policy.default) for _, _, raw in inbox.accepted]


def link_in(message: EmailMessage, path: str) -> str:
    found = re.search(rf"https?://\S+/newsletter/{path}\?token=\S+", message.get_content())
    assert found, message.get_content()
    return found.group(0)


def confirmed(store: SubscriberStore, email: str, name: str, topics: tuple[str, ...]) -> None:
    store.sign_up(email, name, topics, "import", NOW)
    assert store.confirm(email, NOW)


# -- 6: a public form never changes a confirmed record ----------------------------------


def test_signup_for_confirmed_address_changes_nothing(
    serve_web: Callable[..., WebApp], inbox: Inbox
) -> None:
    web = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    store = SubscriberStore(web.settings.paths.subscribers)
    confirmed(store, "ama@example.com", "Ama", ("scope-3-climate",))
    before = store.get("ama@example.com")
    with httpx.Client(base_url=web.base) as client:
        answer = sign_up(client, "Ama@Example.com", "Mallory", ("apparel-textiles",))
    assert answer.status_code == 200
    assert store.get("ama@example.com") == before, "topics, name, status and consent unchanged"
    web.drain()
    (message,) = accepted_messages(inbox)
    assert message["To"].addresses[0].addr_spec == "ama@example.com"
    assert "/newsletter/confirm" not in message.get_content()
    preferences = link_in(message, "preferences").replace(web.base, "/")
    with httpx.Client(base_url=web.base) as owner:
        page = owner.get(preferences)
    assert page.status_code == 200
    checked = [
        i["value"]
        for i in BeautifulSoup(page.text, "html.parser").find_all("input", attrs={"name": "topics"})
        if i.has_attr("checked")
    ]
    assert checked == ["scope-3-climate"]


def test_signup_answer_is_identical_for_new_pending_and_confirmed(
    serve_web: Callable[..., WebApp], inbox: Inbox
) -> None:
    web = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    store = SubscriberStore(web.settings.paths.subscribers)
    confirmed(store, "old@example.com", "Old", (TOPIC,))
    store.sign_up("waiting@example.com", "Waiting", (TOPIC,), "web form", NOW)
    store.sign_up("angry@example.com", "Angry", (TOPIC,), "web form", NOW)
    store.set_status("angry@example.com", "complained", NOW)
    answers = {}
    with httpx.Client(base_url=web.base) as client:
        for email in ("new@example.com", "waiting@example.com", "old@example.com"):
            answers[email] = sign_up(client, email, "X")
        answers["angry@example.com"] = sign_up(client, "angry@example.com", "X")
    assert {a.status_code for a in answers.values()} == {200}
    assert len({main_text(a) for a in answers.values()}) == 1
    web.drain()
    assert sorted(rcpt[0] for _, rcpt, _ in inbox.accepted) == [
        "new@example.com",
        "old@example.com",
        "waiting@example.com",
    ]


# -- 7: confirmation links expire and never undo an unsubscribe -------------------------


def test_old_confirm_link_does_not_undo_an_unsubscribe_or_complaint(web_app: WebApp) -> None:
    store = SubscriberStore(web_app.settings.paths.subscribers)
    with httpx.Client(base_url=web_app.base) as client:
        for email in ("left@example.com", "angry@example.com"):
            assert sign_up(client, email).status_code == 200
    web_app.drain()
    links = {}
    for email in ("left@example.com", "angry@example.com"):
        (mail,) = web_app.settings.paths.outbox.rglob(f"{email}.eml")
        message = message_from_bytes(mail.read_bytes(), policy=policy.default)
        links[email] = link_in(message, "confirm").replace(web_app.base, "/")
    with httpx.Client(base_url=web_app.base) as client:
        for link in links.values():
            assert client.get(link).status_code == 200
        web_app.clock.advance(hours=1)
        store.set_status("left@example.com", "unsubscribed", web_app.clock())
        store.set_status("angry@example.com", "complained", web_app.clock())
        web_app.clock.advance(hours=1)
        for email, link in links.items():
            again = client.get(link)
            assert again.status_code == 404, email
            assert "You are subscribed" not in again.text
    assert store.get("left@example.com").status == "unsubscribed"
    assert store.get("angry@example.com").status == "complained"


def test_confirm_link_expires_after_three_days(web_app: WebApp) -> None:
    store = SubscriberStore(web_app.settings.paths.subscribers)
    with httpx.Client(base_url=web_app.base) as client:
        sign_up(client, "late@example.com")
        web_app.drain()
        (mail,) = web_app.settings.paths.outbox.rglob("late@example.com.eml")
        link = link_in(message_from_bytes(mail.read_bytes(), policy=policy.default), "confirm")
        web_app.clock.advance(days=3, seconds=1)
        expired = client.get(link.replace(web_app.base, "/"))
    assert expired.status_code == 400 and "expired" in expired.text
    assert store.get("late@example.com").status == "pending"


def test_unsubscribed_address_can_subscribe_again_with_a_new_link(web_app: WebApp) -> None:
    store = SubscriberStore(web_app.settings.paths.subscribers)
    confirmed(store, "back@example.com", "Back", (TOPIC,))
    store.set_status("back@example.com", "unsubscribed", NOW)
    web_app.clock.advance(minutes=1)
    with httpx.Client(base_url=web_app.base) as client:
        sign_up(client, "back@example.com")
        assert store.get("back@example.com").status == "unsubscribed", "not before confirming"
        web_app.drain()
        (mail,) = web_app.settings.paths.outbox.rglob("back@example.com.eml")
        link = link_in(message_from_bytes(mail.read_bytes(), policy=policy.default), "confirm")
        assert client.get(link.replace(web_app.base, "/")).status_code == 200
    assert store.get("back@example.com").status == "confirmed"


# -- 8: sign-up bombing --------------------------------------------------------------------


def test_signup_bombing_sends_one_confirmation_without_attacker_text(
    serve_web: Callable[..., WebApp], inbox: Inbox
) -> None:
    web = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    spam = "WIN A PRIZE at https://evil.example/claim"
    statuses = []
    # Three clients (loopback source addresses), ten sign-ups each, one victim.
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=web.base, transport=transport) as client:
            statuses += [sign_up(client, "victim@example.com", spam).status_code for _ in range(10)]
    assert statuses == [200] * 30
    web.drain()
    (message,) = accepted_messages(inbox)
    raw = inbox.accepted[0][2].decode()
    assert "evil.example" not in raw and "PRIZE" not in raw
    assert message["To"].addresses[0].display_name == ""
    web.clock.advance(hours=1)
    with httpx.Client(base_url=web.base) as client:
        assert sign_up(client, "victim@example.com").status_code == 200
    web.drain()
    assert len(inbox.accepted) == 2, "one more after the window"


def test_one_client_is_throttled_after_ten_signups(
    serve_web: Callable[..., WebApp], inbox: Inbox
) -> None:
    web = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    with httpx.Client(base_url=web.base) as client:
        statuses = [sign_up(client, f"p{n}@example.com").status_code for n in range(12)]
        assert statuses == [200] * 10 + [429] * 2
        web.clock.advance(minutes=10)
        assert sign_up(client, "later@example.com").status_code == 200
    web.drain()
    assert len(inbox.accepted) == 11


def test_complained_and_bounced_addresses_are_never_mailed_or_reset(
    serve_web: Callable[..., WebApp], inbox: Inbox
) -> None:
    web = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    store = SubscriberStore(web.settings.paths.subscribers)
    for email, status in (("angry@example.com", "complained"), ("gone@example.com", "bounced")):
        confirmed(store, email, "X", (TOPIC,))
        store.set_status(email, status, NOW)
    with httpx.Client(base_url=web.base) as client:
        for email in ("angry@example.com", "gone@example.com"):
            assert sign_up(client, email).status_code == 200
    web.drain()
    assert inbox.accepted == []
    assert store.get("angry@example.com").status == "complained"
    assert store.get("gone@example.com").status == "bounced"


# -- 9: request size ----------------------------------------------------------------------


def test_oversized_or_crowded_forms_are_refused_before_parsing(web_app: WebApp) -> None:
    store = SubscriberStore(web_app.settings.paths.subscribers)
    with httpx.Client(base_url=web_app.base) as client:
        client.get("/newsletter/")
        big = client.post("/newsletter/subscribe", data={f"f{n}": "x" * 100_000 for n in range(20)})
        assert big.status_code == 413 and "too large" in big.text

        def stream():  # no Content-Length: chunked
            for _ in range(64):
                yield b"a=" + b"x" * 32_768 + b"&"

        chunked = client.post(
            "/newsletter/subscribe",
            content=stream(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert chunked.status_code == 413
        crowded = client.post(
            "/newsletter/subscribe", data={f"f{n}": "x" for n in range(100)} | {"email": "a@b.c"}
        )
        assert crowded.status_code == 400 and "fields" in crowded.text
    assert store.all() == []


# -- 10 and 17: mail failures never give a 500 ---------------------------------------------


@pytest.fixture
def ascii_inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) that does not offer SMTPUTF8."""
    handler = Inbox("127.0.0.1", free_port())
    controller = Controller(
        handler, hostname=handler.host, port=handler.port, enable_SMTPUTF8=False
    )
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def test_signup_with_international_address_when_server_lacks_smtputf8(
    serve_web: Callable[..., WebApp], ascii_inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    web = serve_web(environ=smtp_environ(ascii_inbox.host, ascii_inbox.port))
    store = SubscriberStore(web.settings.paths.subscribers)
    with caplog.at_level(logging.WARNING, logger="outreach.web"):
        with httpx.Client(base_url=web.base) as client:
            answer = sign_up(client, "josé@exämple.org", "José")
        web.drain()
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert store.get("josé@exämple.org").status == "pending"
    assert ascii_inbox.accepted == []
    assert web.app.state.mail.failures == 1
    assert "could not send the confirm email to josé@exämple.org" in caplog.text


@pytest.mark.parametrize("failure", ["down", "refusing"])
def test_smtp_down_or_refusing_shows_the_normal_page_and_keeps_the_row(
    serve_web: Callable[..., WebApp],
    inbox: Inbox,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port() if failure == "down" else inbox.port
    inbox.refuse["ama@example.com"] = "550 5.1.1 no such user"
    web = serve_web(environ=smtp_environ("127.0.0.1", port))
    with caplog.at_level(logging.WARNING, logger="outreach.web"):
        with httpx.Client(base_url=web.base) as client:
            answer = sign_up(client, "ama@example.com")
        web.drain()
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert SubscriberStore(web.settings.paths.subscribers).get("ama@example.com").status == (
        "pending"
    )
    assert "could not send the confirm email to ama@example.com" in caplog.text


def test_signup_answer_does_not_wait_for_the_mail_server(
    serve_web: Callable[..., WebApp],
) -> None:
    """A mail server that accepts the connection and never speaks: the answer still comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        web = serve_web(environ=smtp_environ("127.0.0.1", silent.getsockname()[1]))
        with httpx.Client(base_url=web.base, timeout=5) as client:
            answer = sign_up(client, "ama@example.com")
        assert answer.status_code == 200


def test_unexpected_error_gives_a_friendly_page(
    serve_web: Callable[..., WebApp],
) -> None:
    web = serve_web()
    web.drain()  # the start's look for owed emails opens the store: let it finish first
    web.settings.paths.subscribers.unlink()
    web.settings.paths.subscribers.mkdir()  # the store can no longer be opened
    with httpx.Client(base_url=web.base) as client:
        answer = sign_up(client, "ama@example.com")
    assert answer.status_code == 500
    assert "Something went wrong on our side" in answer.text


# -- 17: hardening -----------------------------------------------------------------------


def test_pages_send_security_headers_and_token_pages_are_not_stored(web_app: WebApp) -> None:
    token = make_token(link_secret(web_app.settings), "unsubscribe", "ama@example.com")
    with httpx.Client(base_url=web_app.base) as client:
        for response in (
            client.get("/newsletter/"),
            client.get("/newsletter/unsubscribe", params={"token": token}),
        ):
            headers = response.headers
            policy_text = headers["content-security-policy"]
            assert "default-src 'none'" in policy_text
            assert "frame-ancestors 'none'" in policy_text
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"


def test_redirects_do_not_reflect_the_host_header(serve_web: Callable[..., WebApp]) -> None:
    app_only = serve_web()
    public = app_only.settings.paths.public
    (public / "blog").mkdir(parents=True)
    (public / "blog" / "index.html").write_text("<p>blog</p>", encoding="utf-8")
    with_site = serve_web()  # now with the static site mounted
    for web, path, target in (
        (app_only, "/newsletter", "/newsletter/"),
        (app_only, "/newsletter/confirm/", "/newsletter/confirm"),
        (with_site, "/newsletter", "/newsletter/"),
        (with_site, "/blog", "/blog/"),
    ):
        with httpx.Client(base_url=web.base, headers={"Host": "evil.example"}) as client:
            response = client.get(path)
        assert response.is_redirect, path
        assert response.headers["location"] == target
        assert response.headers["x-content-type-options"] == "nosniff"


def test_csrf_pair_chosen_by_the_attacker_is_refused(web_app: WebApp) -> None:
    with httpx.Client(base_url=web_app.base, cookies={"outreach_csrf": "chosen"}) as client:
        forged = client.post(
            "/newsletter/subscribe",
            data={"csrf": "chosen", "email": "ama@example.com", "topics": [TOPIC]},
        )
    assert forged.status_code == 403
    assert SubscriberStore(web_app.settings.paths.subscribers).get("ama@example.com") is None


def test_link_signature_with_trailing_junk_is_refused(web_app: WebApp) -> None:
    token = make_token(b"secret", "unsubscribe", "ama@example.com")
    for junk in ("=", "==", "!", ".", "A", " ", "\n"):
        with pytest.raises(BadToken):
            read_token(b"secret", "unsubscribe", token + junk)
    store = SubscriberStore(web_app.settings.paths.subscribers)
    confirmed(store, "ama@example.com", "Ama", (TOPIC,))
    real = make_token(link_secret(web_app.settings), "unsubscribe", "ama@example.com")
    with httpx.Client(base_url=web_app.base) as client:
        response = client.post(
            f"/newsletter/unsubscribe?token={real}%3D%3D",
            data={"List-Unsubscribe": "One-Click"},
        )
    assert response.status_code == 400
    assert store.get("ama@example.com").status == "confirmed"


def test_signed_token_for_an_invalid_address_is_refused_not_a_500(web_app: WebApp) -> None:
    secret = link_secret(web_app.settings)
    with httpx.Client(base_url=web_app.base) as client:
        for purpose, method in (
            ("unsubscribe", "POST"),
            ("preferences", "GET"),
            ("confirm", "GET"),
        ):
            token = make_token(secret, purpose, "not an address", NOW)
            response = client.request(
                method,
                "/newsletter/" + purpose,
                params={"token": token},
                data={"List-Unsubscribe": "One-Click"} if method == "POST" else None,
            )
            assert response.status_code == 400, purpose


def test_confirm_tokens_without_issue_time_are_refused() -> None:
    with pytest.raises(ValueError, match="issue time"):
        make_token(b"secret", "confirm", "ama@example.com")
    payload = b"confirm:ama@example.com"  # a link sent before links carried issue times
    signature = hmac.new(b"secret", payload, hashlib.sha256).digest()[:20]
    b64 = base64.urlsafe_b64encode
    old_style = f"{b64(payload).rstrip(b'=').decode()}.{b64(signature).rstrip(b'=').decode()}"
    with pytest.raises(BadToken, match="no issue time"):
        read_token(b"secret", "confirm", old_style, NOW)


# -- 21: the CSV export and stored names --------------------------------------------------


def test_csv_export_neutralises_formulas_and_imports_back(tmp_path) -> None:
    store = SubscriberStore(tmp_path / "subscribers.sqlite")
    names = ['=HYPERLINK("https://evil.example")', "+1+1", "-2", "@SUM(A1)", "Plain"]
    for n, name in enumerate(names):
        store.sign_up(f"p{n}@example.com", name, (TOPIC,), "web form", NOW)
    store.sign_up("-dash@example.com", "Dash", (TOPIC,), "=cmd|' /C calc'!A0", NOW)
    exported = store.export_csv()
    for row in list(csv.reader(io.StringIO(exported)))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    copy = SubscriberStore(tmp_path / "copy.sqlite")
    copy.import_csv(exported, "import", NOW)
    assert copy.all() == store.all()


def test_nul_and_control_characters_in_names_are_not_stored(tmp_path) -> None:
    store = SubscriberStore(tmp_path / "subscribers.sqlite")
    store.sign_up("a@example.com", "Ama\x00\x1b[31m Mensah\r\nBcc: x", (TOPIC,), "web", NOW)
    store.import_csv(
        f"email,name,topics,consent_source\nb@example.com,B\x00b,{TOPIC},fair\n", "import", NOW
    )
    assert store.get("a@example.com").name == "Ama [31m Mensah Bcc: x"
    assert store.get("b@example.com").name == "B b"
    assert "\x00" not in store.export_csv()
