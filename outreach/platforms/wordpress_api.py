"""A small WordPress REST client: application-password auth, bounded retries, clear errors.

Every call goes through ``?rest_route=``, which works whether or not the site has pretty
permalinks. Idempotent calls (reads, updates, deletes) are retried here on resets, timeouts,
429 (honouring ``Retry-After``) and 5xx answers, with doubling waits. A create is never
retried blindly: the caller looks again by slug first, so a retry cannot make a second post.
The password is held by the session's auth and never appears in a message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests

from outreach.errors import PlatformError, Retryable

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 120.0
PER_PAGE = 100


class WordPressError(PlatformError):
    """WordPress refused or failed a call; the message says what to do."""

    def __init__(self, message: str, code: str = "", data: Any = None):
        super().__init__(message)
        self.code, self.data = code, data


class WordPressAuthError(WordPressError):
    """401/403: the credentials or the user's role; retrying cannot help."""


class WordPressNotFound(WordPressError):
    """404: the post, media item or route does not exist."""


class WordPressTransient(WordPressError, Retryable):
    """A reset, timeout, 409, 429 or 5xx that outlasted the retries; a later run can succeed."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message, "transient")
        self.wait = wait


class WordPressClient:
    total_calls: ClassVar[int] = 0
    """HTTP calls made by every client in this process (tests and benchmarks count them)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        app_password: str,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        throttle: Callable[[], None] | None = None,
    ):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.username = username
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.throttle = throttle
        """Called before every request: a rate limit shared with other workers, if any."""
        self.session = requests.Session()
        # Application passwords are shown with spaces; WordPress accepts them either way.
        self.session.auth = (username, app_password.replace(" ", ""))
        self.session.headers["User-Agent"] = "outreach-publisher"
        self.calls = 0

    def __repr__(self) -> str:  # never show the auth tuple
        return f"WordPressClient({self.base_url!r}, user={self.username!r})"

    def route_url(self, route: str, params: Mapping[str, Any] | None = None) -> str:
        query = {"rest_route": "/" + route.strip("/")}
        query.update({key: value for key, value in (params or {}).items() if value is not None})
        return f"{self.base_url}?{urlencode(query, doseq=True, safe='/,')}"

    # -- calls ---------------------------------------------------------------

    def get(self, route: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.json_of("GET", route, self.request("GET", route, params=params))

    def get_all(self, route: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every item of a collection, following WordPress's pages (X-WP-TotalPages)."""
        page = 1
        while True:
            response = self.request(
                "GET", route, params={**(params or {}), "per_page": PER_PAGE, "page": page}
            )
            yield from self.json_of("GET", route, response)
            if page >= int(response.headers.get("X-WP-TotalPages", "1") or 1):
                return
            page += 1

    def update(self, route: str, body: Mapping[str, Any]) -> dict:
        """POST to an existing item: the same body twice leaves the same result, so retried."""
        return self.json_of("POST", route, self.request("POST", route, json=body))

    def create(self, route: str, body: Mapping[str, Any] | None = None, **kwargs: Any) -> dict:
        """One try only: on a reset or timeout the server may have acted, so the caller checks."""
        response = self.request("POST", route, json=body, retry=False, **kwargs)
        return self.json_of("POST", route, response)

    def delete(self, route: str) -> None:
        with contextlib.suppress(WordPressNotFound):
            self.request("DELETE", route, params={"force": "true"})

    def request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, Any] | None = None,
        retry: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        url = self.route_url(route, params)
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            if self.throttle is not None:
                self.throttle()
            self.calls += 1
            WordPressClient.total_calls += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}"
                wait = self._backoff(attempt)
            except requests.RequestException as exc:  # a bad URL, redirects, a broken body
                raise WordPressError(
                    f"WordPress at {self.base_url}: {method} {route} failed "
                    f"({type(exc).__name__}: {exc}); check wordpress.url"
                ) from None
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in TRANSIENT_STATUSES | {409}:
                    raise self._error(method, route, response)
                problem = f"HTTP {response.status_code}"
                wait = max(self._backoff(attempt), retry_after(response))
            if attempt == attempts:
                raise WordPressTransient(
                    f"WordPress at {self.base_url}: {method} {route} failed {attempts} time(s), "
                    f"last with {problem}; the site may be overloaded or unreachable. "
                    "Run the release again later: it resumes without duplicating posts.",
                    wait,
                )
            self.sleep(wait)
        raise AssertionError("unreachable")

    def json_of(self, method: str, route: str, response: requests.Response) -> Any:
        """The answer's JSON; anything else means the URL is not the WordPress REST API."""
        try:
            return response.json()
        except ValueError:
            raise WordPressError(
                f"WordPress at {self.base_url}: {method} {route} answered HTTP "
                f"{response.status_code} without JSON; check that wordpress.url is the site's "
                "address (the REST API must answer at ?rest_route=/)",
                "no-json",
            ) from None

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * 2 ** (attempt - 1), 60.0)

    def _error(self, method: str, route: str, response: requests.Response) -> WordPressError:
        code, message = _wp_error(response)
        where = f"WordPress at {self.base_url}: {method} {route}"
        if response.status_code == 401:
            return WordPressAuthError(
                f"{where} refused the credentials of user '{self.username}' ({code}). Check "
                "wordpress.username (OUTREACH_WORDPRESS__USERNAME) and the application password "
                "(OUTREACH_WORDPRESS_APP_PASSWORD or the Prefect Secret block "
                "'outreach-wordpress-app-password'); create one under Users > Profile > "
                "Application Passwords."
            )
        if response.status_code == 403:
            return WordPressAuthError(
                f"{where} is not allowed for user '{self.username}' ({code}: {message}). Give "
                "the user the Editor or Administrator role, or use another user's application "
                "password."
            )
        if response.status_code == 404:
            return WordPressNotFound(f"{where}: not found ({code})", code)
        return WordPressError(
            f"{where}: HTTP {response.status_code} {code}: {message}",
            code,
            _wp_error_data(response),
        )


def retry_after(response: requests.Response) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        seconds = moment.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def _wp_error(response: requests.Response) -> tuple[str, str]:
    """WordPress's own error code and message, when the answer is its JSON error."""
    try:
        body = response.json()
    except ValueError:
        return "no-json", response.reason or ""
    if isinstance(body, dict):
        return str(body.get("code", "unknown")), str(body.get("message", ""))[:300]
    return "unknown", ""


def _wp_error_data(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("data") if isinstance(body, dict) else None
