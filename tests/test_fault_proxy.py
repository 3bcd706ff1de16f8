"""The fault-injecting proxy itself, against a real echo server and moto's S3 server on loopback.

The pipeline's retry tests are only as good as the faults they inject, so this checks that each
fault does exactly what it claims (in particular, whether the server saw the request) and that
everything else passes through untouched, keep-alive included.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from fault_proxy import Exchange, FaultProxy


class Upstream:
    """A loopback echo server that remembers every request it received."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):
                    return self.echo
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def echo(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with upstream.lock:
                    upstream.received.append((self.command, self.path, body))
                    count = len(upstream.received)
                if self.path == "/chunked":  # answer chunked: the proxy must re-frame it
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                    return
                status = int(self.path[8:11]) if self.path.startswith("/status/") else 200
                answer = json.dumps(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body.decode(),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                ).encode()
                self.send_response(status, "Custom Reason" if status == 299 else None)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Echo-Count", str(count))
                self.send_header("Set-Cookie", "a=1")
                self.send_header("Set-Cookie", "b=2")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream=upstream.url) as proxy:
        yield proxy


# -- pass-through ------------------------------------------------------------------------------


def test_get_and_post_pass_through_intact(upstream: Upstream, proxy: FaultProxy) -> None:
    got = requests.get(f"{proxy.url}/wp-json/wp/v2/posts?per_page=5&search=a%20b", timeout=5)
    assert got.status_code == 200
    echo = got.json()
    assert echo["method"] == "GET"
    assert echo["path"] == "/wp-json/wp/v2/posts?per_page=5&search=a%20b"
    assert echo["headers"]["host"] == f"127.0.0.1:{proxy.port}"  # the client's Host, kept
    assert "Connection" not in got.headers  # the upstream's hop-by-hop headers stay there
    assert got.headers["Set-Cookie"] == "a=1, b=2"  # repeated headers survive
    assert got.headers["Content-Type"] == "application/json"

    posted = requests.post(f"{proxy.url}/submit", data=b"title=Hello", timeout=5)
    assert posted.json()["body"] == "title=Hello"
    assert posted.json()["headers"]["content-length"] == "11"
    assert upstream.received[-1] == ("POST", "/submit", b"title=Hello")


def test_status_and_reason_pass_through(proxy: FaultProxy) -> None:
    assert requests.put(f"{proxy.url}/status/201", data=b"x", timeout=5).status_code == 201
    odd = requests.get(f"{proxy.url}/status/299", timeout=5)
    assert (odd.status_code, odd.reason) == (299, "Custom Reason")
    assert requests.delete(f"{proxy.url}/status/404", timeout=5).status_code == 404


def test_keep_alive_session_reuses_one_connection(upstream: Upstream, proxy: FaultProxy) -> None:
    before = upstream.count
    with requests.Session() as session:
        for n in range(5):
            answer = session.post(f"{proxy.url}/item/{n}", data=f"n={n}", timeout=5)
            assert answer.json()["path"] == f"/item/{n}"
        head = session.head(f"{proxy.url}/item/head", timeout=5)
        after_head = session.get(f"{proxy.url}/item/after-head", timeout=5)
    assert upstream.count == before + 7
    assert len({e.client_port for e in proxy.log}) == 1  # one client connection for all seven
    assert int(head.headers["Content-Length"]) > 0 and head.content == b""
    assert after_head.json()["path"] == "/item/after-head"  # HEAD left the framing intact


def test_chunked_request_body_arrives_decoded(proxy: FaultProxy) -> None:
    def parts() -> Iterator[bytes]:
        yield b"first,"
        yield b"second"

    answer = requests.post(f"{proxy.url}/upload", data=parts(), timeout=5)
    echo = answer.json()
    assert echo["body"] == "first,second"
    assert echo["headers"]["content-length"] == "12"
    assert "transfer-encoding" not in echo["headers"]


def test_chunked_response_is_reframed(proxy: FaultProxy) -> None:
    answer = requests.get(f"{proxy.url}/chunked", timeout=5)
    assert answer.content == b"hello world"
    assert answer.headers["Content-Length"] == "11"
    assert "Transfer-Encoding" not in answer.headers


def test_expect_100_continue_is_answered(upstream: Upstream, proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
        client.sendall(
            b"PUT /expect HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert client.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n")
        client.sendall(b"data")
        reply = b""
        while not reply.endswith(b"}"):
            reply += client.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    echo = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert echo["body"] == "data" and "expect" not in echo["headers"]


# -- faults ------------------------------------------------------------------------------------


def test_429_answers_without_forwarding(upstream: Upstream, proxy: FaultProxy) -> None:
    proxy.add_rule("POST", r"^/posts", ["429:7"])
    before = upstream.count
    limited = requests.post(f"{proxy.url}/posts", data=b"a", timeout=5)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["status"] == 429
    assert upstream.count == before
    assert requests.post(f"{proxy.url}/posts", data=b"a", timeout=5).status_code == 200
    assert upstream.count == before + 1


@pytest.mark.parametrize("fault", ["429", "500", "502", "503"])
def test_status_faults(upstream: Upstream, proxy: FaultProxy, fault: str) -> None:
    proxy.add_rule(None, "/x", [fault])
    before = upstream.count
    answer = requests.get(f"{proxy.url}/x", timeout=5)
    assert answer.status_code == int(fault)
    assert answer.headers.get("Retry-After") == ("1" if fault == "429" else None)
    assert upstream.count == before


def test_reset_does_not_forward(upstream: Upstream, proxy: FaultProxy) -> None:
    proxy.add_rule(None, "/posts", ["reset"])
    before = upstream.count
    with requests.Session() as session:
        assert session.get(f"{proxy.url}/warm", timeout=5).ok  # a live keep-alive connection
        with pytest.raises(requests.ConnectionError) as caught:
            session.post(f"{proxy.url}/posts", data=b"a", timeout=5)
        assert "ConnectionResetError" in repr(caught.value)
        assert upstream.count == before + 1  # only the warm-up
        assert session.post(f"{proxy.url}/posts", data=b"a", timeout=5).ok  # new connection
    assert upstream.count == before + 2


def test_reset_after_forwards_then_resets(upstream: Upstream, proxy: FaultProxy) -> None:
    proxy.add_rule("POST", "/posts", ["reset-after"])
    before = upstream.count
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{proxy.url}/posts", data=b"create", timeout=5)
    assert upstream.count == before + 1  # the server acted although the client saw a failure
    assert upstream.received[-1] == ("POST", "/posts", b"create")
    assert proxy.log == [Exchange("POST", "/posts", "reset-after", None, 200)]


def test_delay_trips_read_timeout(upstream: Upstream, proxy: FaultProxy) -> None:
    proxy.add_rule("GET", "/slow", ["delay:0.5"])
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{proxy.url}/slow", timeout=(2, 0.2))
    assert requests.get(f"{proxy.url}/slow", timeout=(2, 0.2)).status_code == 200


def test_log_records_everything_in_order(proxy: FaultProxy) -> None:
    proxy.add_rule(None, "/b", ["503", "reset"])
    requests.get(f"{proxy.url}/a", timeout=5)
    requests.get(f"{proxy.url}/b?q=1", timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/b", data=b"x", timeout=5)
    requests.put(f"{proxy.url}/b", data=b"x", timeout=5)
    assert [(e.method, e.path, e.fault, e.status) for e in proxy.log] == [
        ("GET", "/a", None, 200),
        ("GET", "/b?q=1", "503", 503),
        ("PUT", "/b", "reset", None),
        ("PUT", "/b", None, 200),
    ]
    assert [e.path for e in proxy.requests("PUT")] == ["/b", "/b"]
    assert [e.method for e in proxy.requests(path_pattern=r"\?q=")] == ["GET"]
    proxy.clear()
    assert proxy.log == []
    assert requests.get(f"{proxy.url}/b", timeout=5).status_code == 200  # rules gone too


def test_rule_order_and_exhaustion(proxy: FaultProxy) -> None:
    first = proxy.add_rule("GET", "^/r", ["500"])
    proxy.add_rule(None, "^/r", ["502", "503"])
    proxy.add_rule("DELETE", "^/never", ["500"])

    def status(method: str, path: str) -> int:
        return requests.request(method, f"{proxy.url}{path}", timeout=5).status_code

    assert status("POST", "/r") == 502  # first rule is GET only
    assert status("GET", "/r") == 500  # first rule, first match
    assert status("GET", "/r") == 503  # first rule used up: the next matching one applies
    assert status("GET", "/r") == 200  # all used up: pass through
    assert status("GET", "/other/r") == 200  # re.search, but anchored pattern
    assert first.remaining == []


def test_unknown_fault_is_rejected(proxy: FaultProxy) -> None:
    for bad in ["rest", "delay:", "503:2", "404"]:
        with pytest.raises(ValueError):
            proxy.add_rule(None, "/", [bad])


def test_upstream_down_gives_502() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening
        with FaultProxy(upstream=dead) as proxy:
            assert requests.get(f"{proxy.url}/", timeout=5).status_code == 502
            assert proxy.log == [Exchange("GET", "/", None, 502, None)]


def test_client_hanging_up_is_quiet(upstream: Upstream, capfd: pytest.CaptureFixture[str]) -> None:
    with FaultProxy(upstream=upstream.url) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"not http at all\r\n\r\n")
        proxy.add_rule(None, "/gone", ["delay:5"])
        with pytest.raises(requests.ReadTimeout):
            requests.get(f"{proxy.url}/gone", timeout=(2, 0.05))
        assert requests.get(f"{proxy.url}/fine", timeout=5).ok
        idle = requests.Session()
        idle.get(f"{proxy.url}/idle", timeout=5)  # left open: close() must hang up on it
    idle.close()
    assert [e.path for e in proxy.log] == ["/gone", "/fine", "/idle"]  # half a request: no entry
    assert capfd.readouterr().err == ""


# -- boto3 against moto's S3 server --------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=10)
    yield url
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


def test_boto3_through_proxy_with_a_503_retried(moto_url: str) -> None:
    with FaultProxy(upstream=moto_url) as proxy:
        s3 = s3_client(proxy.url)
        s3.create_bucket(Bucket="fault-proxy")
        s3.put_object(Bucket="fault-proxy", Key="a/one.txt", Body=b"one")
        assert s3.get_object(Bucket="fault-proxy", Key="a/one.txt")["Body"].read() == b"one"

        proxy.add_rule("PUT", r"^/fault-proxy/a/two\.txt", ["503"])
        s3.put_object(Bucket="fault-proxy", Key="a/two.txt", Body=b"two" * 1000)
        assert s3.get_object(Bucket="fault-proxy", Key="a/two.txt")["Body"].read() == b"two" * 1000

    puts = [(e.fault, e.status) for e in proxy.requests("PUT", r"/a/two\.txt")]
    assert puts == [("503", 503), (None, 200)]
