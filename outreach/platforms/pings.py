"""Tell feed readers a feed changed: WebSub hubs and the Podcast Index pubnotify endpoint.

Pings are a courtesy: each is retried with backoff and a timeout, and a failure is reported,
never raised, so a hub that is down never fails a release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class PingResult:
    target: str
    ok: bool
    detail: str


def _session(retries: int, backoff: float) -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "POST"),
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "outreach-feed-pinger"
    return session


def ping_feed(
    feed_url: str,
    websub_hubs: Sequence[str],
    pubnotify_url: str | None,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = TIMEOUT_SECONDS,
) -> list[PingResult]:
    """Notify every configured hub about ``feed_url``; return one result per hub."""
    results: list[PingResult] = []
    with _session(retries, backoff) as session:
        calls = [
            (
                hub,
                lambda hub=hub: session.post(
                    hub, data={"hub.mode": "publish", "hub.url": feed_url}, timeout=timeout
                ),
            )
            for hub in websub_hubs
        ]
        if pubnotify_url:
            calls.append(
                (
                    pubnotify_url,
                    lambda: session.get(pubnotify_url, params={"url": feed_url}, timeout=timeout),
                )
            )
        for target, call in calls:
            try:
                response = call()
            except requests.RequestException as exc:
                results.append(PingResult(target, False, f"{type(exc).__name__}: {exc}"))
                continue
            ok = 200 <= response.status_code < 300
            results.append(PingResult(target, ok, f"HTTP {response.status_code}"))
    return results
