"""Find and run ffmpeg: the binary shipped inside the imageio-ffmpeg wheel by default.

A fresh machine gets a working ffmpeg from ``pip install``; ``OUTREACH_FFMPEG`` can point to
another build. The capabilities the pipeline relies on are checked once, with a clear error.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from outreach.errors import OutreachError

REQUIRED_ENCODERS = ("libmp3lame",)
REQUIRED_FILTERS = ("aformat", "aresample", "asetnsamples", "volume", "ebur128")


class FfmpegError(OutreachError, RuntimeError):
    """ffmpeg is missing, lacks a capability, or failed on a file."""


@lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    configured = os.environ.get("OUTREACH_FFMPEG")
    if configured:
        return configured
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise FfmpegError(
            "imageio-ffmpeg is not installed; run 'pip install imageio-ffmpeg'"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def check_capabilities() -> str:
    """Return the ffmpeg path once it is known to have the encoder and filters we use."""
    path = ffmpeg_path()
    encoders = _run_text([path, "-hide_banner", "-encoders"])
    filters = _run_text([path, "-hide_banner", "-filters"])
    missing = [name for name in REQUIRED_ENCODERS if not re.search(rf"\s{name}\s", encoders)]
    missing += [name for name in REQUIRED_FILTERS if not re.search(rf"\s{name}\s", filters)]
    if missing:
        raise FfmpegError(
            f"ffmpeg at {path} lacks {', '.join(missing)}; install imageio-ffmpeg or set "
            "OUTREACH_FFMPEG to a build with libmp3lame and the "
            "aformat/aresample/asetnsamples/volume/ebur128 filters"
        )
    return path


def _run_text(command: Sequence[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FfmpegError(f"cannot run {command[0]}: {exc}") from None


def run_ffmpeg(
    arguments: Sequence[str],
    duration: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> str:
    """Run ffmpeg with ``arguments``; return its log (stderr). Reports progress as 0..1."""
    command = [check_capabilities(), "-hide_banner", "-nostdin", "-nostats"]
    if progress is not None:
        command += ["-progress", "pipe:1"]
    command += list(arguments)
    # The log goes to a file, not a pipe: a chatty ffmpeg can never block on a full pipe
    # while we read progress lines.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, text=True, errors="replace"
        )
        assert process.stdout is not None
        for line in process.stdout:
            if progress is not None and duration and line.startswith("out_time_us="):
                value = line.split("=", 1)[1].strip()
                if value.isdigit():
                    progress(min(int(value) / 1e6 / duration, 1.0))
        process.wait()
        log_file.seek(0)
        log = log_file.read()
    if process.returncode != 0:
        last = [line for line in log.strip().splitlines() if line.strip()][-3:]
        raise FfmpegError("ffmpeg failed: " + " | ".join(last))
    if progress is not None:
        progress(1.0)
    return log


PIPE_BYTES = 1 << 20
"""ffmpeg's output pipe is enlarged to 1 MB (Linux; 64 KB otherwise): ffmpeg keeps decoding
while this process measures the last chunk, instead of the two taking turns."""


def stream_ffmpeg(
    arguments: Sequence[str], consume: Callable[[bytes], None], frame_bytes: int = 1
) -> None:
    """Run ffmpeg with ``arguments`` (one output being ``pipe:1``) and hand what it writes
    there to ``consume`` as it arrives, in whole frames of ``frame_bytes``."""
    command = [check_capabilities(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    command += list(arguments)
    with tempfile.TemporaryFile() as log_file:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, bufsize=0)
        except OSError as exc:
            raise FfmpegError(f"cannot run {command[0]}: {exc}") from None
        assert process.stdout is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):
            import fcntl

            fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        carried = b""
        try:
            while chunk := process.stdout.read(PIPE_BYTES):
                if carried:
                    chunk = carried + chunk
                whole = len(chunk) - len(chunk) % frame_bytes
                carried = chunk[whole:]
                if whole:
                    consume(chunk[:whole] if carried else chunk)
        finally:
            process.stdout.close()  # a consumer that raised stops ffmpeg (broken pipe)
            process.wait()
        log_file.seek(0)
        log = log_file.read().decode(errors="replace")
    if process.returncode != 0:
        last = [line for line in log.strip().splitlines() if line.strip()][-3:]
        raise FfmpegError("ffmpeg failed: " + (" | ".join(last) or f"exit {process.returncode}"))


_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)


def decoded_seconds(path: str) -> float:
    """Decode the first audio stream to nothing; return how many seconds it really held.

    A header can claim more than a file holds (a truncated WAV keeps its original length),
    so only decoding every frame tells how long the recording is."""
    command = [check_capabilities(), "-hide_banner", "-nostdin", "-nostats", "-loglevel"]
    command += ["error", "-progress", "pipe:1", "-i", path, "-map", "0:a:0", "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise FfmpegError(f"cannot run {command[0]}: {exc}") from None
    times = _OUT_TIME.findall(result.stdout)
    if result.returncode != 0 or not times:
        last = [line for line in result.stderr.strip().splitlines() if line.strip()][-3:]
        raise FfmpegError("ffmpeg failed: " + (" | ".join(last) or "no audio decoded"))
    return int(times[-1]) / 1e6


def _tail(log: bytes, returncode: int | None) -> str:
    last = [line for line in log.decode(errors="replace").strip().splitlines() if line.strip()]
    return " | ".join(last[-3:]) or f"exit {returncode}"


def pipe_through(
    decode_arguments: Sequence[str],
    encode_arguments: Sequence[str],
    transform: Callable[[bytes], Iterable[bytes | memoryview]],
    finish: Callable[[], Iterable[bytes | memoryview]],
    frame_bytes: int = 1,
) -> None:
    """One ffmpeg decodes into this process (``decode_arguments``, output ``pipe:1``), which
    hands whole frames to ``transform`` and writes what it returns (then ``finish()``) to a
    second ffmpeg encoding from ``pipe:0`` (``encode_arguments``): buffers are written as
    they are, never joined. The two run at once, on
    two cores: the decode costs no time of its own beside the encode.

    An exception from ``transform`` stops both. A failed encode (a full disk) raises
    FfmpegError with the encoder's own words; so does a failed decode."""
    base = [check_capabilities(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    with tempfile.TemporaryFile() as decode_log, tempfile.TemporaryFile() as encode_log:
        try:
            decoder = subprocess.Popen(
                [*base, *decode_arguments], stdout=subprocess.PIPE, stderr=decode_log, bufsize=0
            )
        except OSError as exc:
            raise FfmpegError(f"cannot run {base[0]}: {exc}") from None
        try:
            encoder = subprocess.Popen(
                [*base, *encode_arguments],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=encode_log,
            )
        except OSError as exc:
            decoder.kill()
            decoder.wait()
            raise FfmpegError(f"cannot run {base[0]}: {exc}") from None
        assert decoder.stdout is not None and encoder.stdin is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):
            import fcntl

            for pipe in (decoder.stdout, encoder.stdin):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        encoder_stopped = False
        try:
            carried = b""
            while chunk := decoder.stdout.read(PIPE_BYTES):
                if carried:
                    chunk = carried + chunk
                whole = len(chunk) - len(chunk) % frame_bytes
                carried = chunk[whole:]
                if whole:
                    for out in transform(chunk[:whole] if carried else chunk):
                        encoder.stdin.write(out)
            for out in finish():
                encoder.stdin.write(out)
            encoder.stdin.close()
        except BrokenPipeError:
            encoder_stopped = True  # its log says why
        except BaseException:
            encoder.kill()
            decoder.kill()
            raise
        finally:
            decoder.stdout.close()
            if encoder_stopped:
                decoder.kill()
            decoder.wait()
            with contextlib.suppress(BrokenPipeError):
                encoder.stdin.close()
            encoder.wait()
        if encoder.returncode != 0 or encoder_stopped:
            encode_log.seek(0)
            raise FfmpegError(
                "ffmpeg failed to encode: " + _tail(encode_log.read(), encoder.returncode)
            )
        if decoder.returncode != 0:
            decode_log.seek(0)
            raise FfmpegError("ffmpeg failed: " + _tail(decode_log.read(), decoder.returncode))


_CONTAINER_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)


def container_seconds(path: str) -> float | None:
    """The length the container's header states (ffmpeg's ``Duration:``), or None when it
    states none (a recording that was never finished): a hint for planning work, never a
    measurement."""
    command = [check_capabilities(), "-hide_banner", "-nostdin", "-i", path]
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise FfmpegError(f"cannot run {command[0]}: {exc}") from None
    match = _CONTAINER_DURATION.search(result.stderr)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
