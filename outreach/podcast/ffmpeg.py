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
from collections.abc import Callable, Sequence
from functools import lru_cache

from outreach.errors import OutreachError

REQUIRED_ENCODERS = ("libmp3lame",)
REQUIRED_FILTERS = ("aformat", "aresample", "asetnsamples", "atrim", "volume", "ebur128")


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
            "aformat/aresample/asetnsamples/atrim/volume/ebur128 filters"
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
