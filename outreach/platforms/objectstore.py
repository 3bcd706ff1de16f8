"""The object-storage platform: S3-compatible hosting for the site, audio and feeds.

Uploads only what changed (the content hash in the ledger), with a content type and a cache
policy per kind of file (long for audio and images, short for pages and feeds). Within a
batch, feeds go last; the release publishes every finding's files before any site-wide batch,
so a podcast app never fetches a feed that points at audio not uploaded yet. Each upload is
recorded as it succeeds, so a failed run resumes where it stopped. It deletes only objects it
uploaded itself (the ledger knows which). Credentials come from boto3's usual chain
(environment, shared files, instance roles), never from outreach.toml.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import ClassVar

from outreach.errors import PlatformError, Retryable
from outreach.ledger import Ledger
from outreach.platforms.base import Batch, PlatformUnavailable, Receipt, sync_batch
from outreach.vocabulary import Deliverable

LONG_CACHE = "public, max-age=604800"
SHORT_CACHE = "public, max-age=300"
FEED_SUFFIXES = (".xml", ".atom", ".rss")
TYPES = {
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".mp3": "audio/mpeg",
    ".vcf": "text/vcard",
}


class StorageError(PlatformError):
    """The bucket refused an upload or delete; the message names the key and the fix."""


class StorageTransient(StorageError, Retryable):
    """Throttling, a timeout or a 5xx that outlasted boto3's retries; a later run resumes."""


THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "RequestTimeout", "ServiceUnavailable"})


@contextlib.contextmanager
def storage_errors(bucket: str, action: str, key: str) -> Iterator[None]:
    """Translate botocore's errors for one call into the error tree, retryable or not."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"bucket '{bucket}': {action} {key}"
    try:
        yield
    except NoCredentialsError as exc:
        raise StorageError(
            f"{where}: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or another source boto3 reads)"
        ) from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        code = exc.response.get("Error", {}).get("Code", "")
        if status >= 500 or status == 429 or code in THROTTLE_CODES:
            raise StorageTransient(
                f"{where} failed for now ({code or status}); run the release again later: "
                "it resumes with what is not uploaded yet"
            ) from exc
        raise StorageError(
            f"{where} was refused ({code or status}); check the credentials' rights on the "
            "bucket and storage.bucket"
        ) from exc
    except BotoCoreError as exc:  # connection, timeout, endpoint: worth another try later
        raise StorageTransient(
            f"{where} could not reach the endpoint ({exc}); check storage.endpoint_url, or "
            "run the release again later: it resumes"
        ) from exc


def content_type(path: str) -> str:
    if path.endswith("podcast/feed.xml"):
        return "application/rss+xml"
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    guessed = TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return (
        f"{guessed}; charset=utf-8"
        if guessed.startswith("text/") or guessed.endswith(("+xml", "/xml", "json"))
        else guessed
    )


def cache_control(path: str) -> str:
    is_page = path.endswith((".html", "/")) or path.endswith(FEED_SUFFIXES) or path.endswith(".txt")
    return SHORT_CACHE if is_page else LONG_CACHE


def upload_order(deliverables: list[Deliverable]) -> list[Deliverable]:
    """Media and pages before feeds and sitemaps."""
    return sorted(deliverables, key=lambda d: d.path.endswith(FEED_SUFFIXES))


class ObjectStore:
    name: ClassVar[str] = "s3"

    def __init__(self, client, bucket: str, prefix: str, public_base_url: str):
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_base_url = public_base_url

    def key(self, item: str) -> str:
        return self.prefix + item

    def url(self, item: str) -> str:
        return self.public_base_url + item.removesuffix("index.html")

    def check(self) -> str:
        """HEAD the bucket: proves the endpoint answers and the credentials may use it."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f"bucket '{self.bucket}'"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise PlatformUnavailable(
                f"{where}: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or another source boto3 reads)"
            ) from None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            hint = {
                403: "the credentials may not use it; check the key and the bucket policy",
                404: "no such bucket; create it or correct storage.bucket",
            }.get(status, str(exc))
            raise PlatformUnavailable(f"{where}: {hint}") from None
        except BotoCoreError as exc:
            raise PlatformUnavailable(
                f"{where}: unreachable ({exc}); check storage.endpoint_url"
            ) from None
        return f"{where} reachable, served at {self.public_base_url}"

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]:
        """The ledger's hash is the truth: objects are not read back to compare. Each upload's
        ETag is kept as the item's remote id, for ``outreach platforms verify`` to notice a
        hand-changed object from a listing of the bucket."""
        known = ledger.items(batch.finding_id, batch.channel, self.name)
        etags: dict[str, str] = {}

        def put(deliverable: Deliverable) -> None:
            etags[deliverable.path] = self._put(deliverable)

        def token(item: str) -> str | None:
            return etags.get(item) or (known[item].remote_id if item in known else None)

        return sync_batch(
            self.name, batch, ledger, now, dry_run,
            current_hash=lambda item, recorded: recorded,
            write=put,
            delete=self._delete,
            url=self.url,
            order=upload_order,
            token=token,
        )  # fmt: skip

    def holds(self, marks: Mapping[str, str | None]) -> bool:
        """The ledger is the record of what was uploaded: objects are not read back."""
        return True

    def _put(self, deliverable: Deliverable) -> str:
        """Upload one file; its ETag (as S3 answers it) says later whether it was replaced."""
        key = self.key(deliverable.path)
        with storage_errors(self.bucket, "upload", key):
            answer = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=deliverable.content,
                ContentType=content_type(deliverable.path),
                CacheControl=cache_control(deliverable.path),
                ContentLength=len(deliverable.content),
            )
        return str(answer.get("ETag", ""))

    def _delete(self, item: str) -> None:
        with storage_errors(self.bucket, "delete", self.key(item)):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(item))


def s3_client(endpoint_url: str | None, region: str | None, attempts: int = 5):
    """A boto3 S3 client with bounded retries for throttling and server errors."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        config=Config(
            retries={"total_max_attempts": attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )
