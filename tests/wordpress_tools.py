"""A real WordPress for the tests: Debian's package on PHP's built-in server, on loopback.

``tests/servers/wordpress.sh`` builds and starts it (MariaDB in a private folder, the site's own
wp-config.php and wp-content, an application password); ``make test`` installs the packages
first. One site serves the whole session; each test starts from an empty site (``wordpress``
deletes every post, media item and term the previous test made).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import free_port

SCRIPT = Path(__file__).resolve().parent / "servers" / "wordpress.sh"
ANY_STATUS = "publish,future,draft,pending,private"


@dataclass(frozen=True)
class WordPressSite:
    url: str
    username: str
    password: str
    uploads: Path
    """The site's uploads folder on disk (what its web server serves under wp-content/uploads)."""

    def api(self, route: str, **params: object) -> str:
        query = "&".join(f"{key}={value}" for key, value in params.items())
        return f"{self.url}?rest_route=/{route.strip('/')}" + (f"&{query}" if query else "")

    def get(self, route: str, auth: bool = True, **params: object) -> requests.Response:
        return requests.get(
            self.api(route, **params),
            auth=(self.username, self.password) if auth else None,
            timeout=30,
        )

    def all(self, route: str, **params: object) -> list[dict]:
        """Every item of a collection, following pages, as the administrator sees it."""
        items: list[dict] = []
        page = 1
        while True:
            response = self.get(route, per_page=100, page=page, context="edit", **params)
            response.raise_for_status()
            items += response.json()
            if page >= int(response.headers.get("X-WP-TotalPages", "1")):
                return items
            page += 1

    def posts(self, **params: object) -> list[dict]:
        return self.all("wp/v2/posts", status=ANY_STATUS, **params)

    def delete(self, route: str) -> None:
        requests.delete(
            self.api(route, force="true"), auth=(self.username, self.password), timeout=30
        ).raise_for_status()

    def empty(self) -> None:
        """Remove every post, media item, tag and (but the default) category."""
        for post in self.posts():
            self.delete(f"wp/v2/posts/{post['id']}")
        for item in self.all("wp/v2/media"):
            self.delete(f"wp/v2/media/{item['id']}")
        for tag in self.all("wp/v2/tags"):
            self.delete(f"wp/v2/tags/{tag['id']}")
        for category in self.all("wp/v2/categories"):
            if category["id"] != 1:  # "Uncategorized" cannot be deleted
                self.delete(f"wp/v2/categories/{category['id']}")


@pytest.fixture(scope="session")
def wordpress_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressSite]:
    folder = tmp_path_factory.mktemp("wordpress")
    started = subprocess.run(
        [str(SCRIPT), "start", str(folder), str(free_port())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if started.returncode != 0:
        pytest.fail(
            "could not start WordPress for the tests (run 'make test', which installs Debian's "
            f"wordpress, mariadb-server, php-cli and php-mysql as root):\n{started.stderr}",
            pytrace=False,
        )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield WordPressSite(
            values["WORDPRESS_URL"],
            values["WORDPRESS_USERNAME"],
            values["WORDPRESS_APP_PASSWORD"],
            folder / "docroot" / "wp-content" / "uploads",
        )
    finally:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)


@pytest.fixture
def wordpress(wordpress_site: WordPressSite) -> WordPressSite:
    """The session's WordPress, emptied for this test."""
    wordpress_site.empty()
    return wordpress_site
