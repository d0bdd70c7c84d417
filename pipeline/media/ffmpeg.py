"""The one place reelpipe runs ffmpeg.

An invocation is a value — an argv list — that can be logged, printed and asserted in tests. It always
starts with ``-hide_banner -nostdin -y``, never goes through a shell, captures stderr, and on failure raises
:class:`~pipeline.errors.MediaError` with the tail of ffmpeg's own message. Progress comes from ffmpeg's
``-progress`` output.

ffmpeg is found in this order: the ``REELPIPE_FFMPEG`` environment variable, ``ffmpeg`` on ``PATH``, then the
binary bundled in the ``imageio-ffmpeg`` wheel (so a bare machine needs no system package).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence

from pipeline.errors import MediaError

__all__ = [
    "FFmpegCommand",
    "ffmpeg_measure",
    "escape_filter_value",
    "ffmpeg_exe",
    "run_ffmpeg",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
"""Called with the seconds of output written so far."""

FFmpegCommand = list[str]


@functools.lru_cache(maxsize=None)
def _resolve_ffmpeg(env_value: str | None, path_value: str | None) -> str:
    if env_value:
        if os.path.isfile(env_value) and os.access(env_value, os.X_OK):
            return env_value
        raise MediaError(
            f"REELPIPE_FFMPEG points to {env_value!r}, which is not an executable file",
            hint="unset REELPIPE_FFMPEG to use the bundled ffmpeg, or point it at a working binary",
        )
    found = shutil.which("ffmpeg", path=path_value)
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise MediaError("no ffmpeg found", hint="pip install imageio-ffmpeg, or put ffmpeg on PATH") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary to use (see the module docstring for the order)."""
    return _resolve_ffmpeg(os.environ.get("REELPIPE_FFMPEG"), os.environ.get("PATH"))


def escape_filter_value(text: str) -> str:
    """Escape ``text`` for use as a single option value inside an ffmpeg filtergraph.

    Two levels apply: the option value level (``\\``, ``'`` and ``:`` are special) and the graph level
    (``[ ] , ; '`` and ``\\``). Quoting the value in single quotes at the option level and then escaping
    the graph level makes every character literal. Prefer passing user text through files (``textfile=``)
    where the filter allows it.
    """
    # level 1: inside '...', only ' needs care: close quote, escaped quote, reopen.
    level1 = "'" + text.replace("'", "'\\''") + "'"
    # level 2: the filtergraph parser; escape its special characters with a backslash.
    out = []
    for ch in level1:
        if ch in "\\'[],;":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _tail(text: str, lines: int = 12) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def run_ffmpeg(
    args: Sequence[str],
    *,
    what: str,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    stdin: bytes | None = None,
    timeout: float | None = None,
) -> FFmpegCommand:
    return _run(args, what=what, duration=duration, on_progress=on_progress, stdin=stdin, timeout=timeout)[0]


def ffmpeg_measure(args: Sequence[str], *, what: str, timeout: float | None = None) -> str:
    """Run ffmpeg at log level ``info`` and return its stderr (for analysis filters such as ``loudnorm``,
    ``ebur128`` or ``scdet`` that print their results). Raises :class:`MediaError` on failure."""
    return _run(args, what=what, timeout=timeout, loglevel="info")[1]


def _run(
    args: Sequence[str],
    *,
    what: str,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    stdin: bytes | None = None,
    timeout: float | None = None,
    loglevel: str = "error",
) -> tuple[FFmpegCommand, str]:
    """Run ffmpeg with ``args`` (without the binary and the standard flags) and wait for it.

    Args:
        args: the arguments after ``ffmpeg -hide_banner -nostdin -y``.
        what: a short description for error messages ("encoding segment 3 of harbor.mp4").
        duration: expected output seconds, only used to scale progress.
        on_progress: called with the output seconds written so far, from ``-progress``.
        stdin: bytes to feed (then ``-nostdin`` is not used).
        timeout: seconds before ffmpeg is killed.

    Returns:
        The full argv that ran.

    Raises:
        MediaError: ffmpeg could not start, failed, or timed out; the message carries its stderr tail.
    """
    argv: FFmpegCommand = [ffmpeg_exe(), "-hide_banner", "-loglevel", loglevel]
    argv += ["-nostdin"] if stdin is None else []
    argv += ["-y"]
    if on_progress is not None:
        argv += ["-progress", "pipe:1", "-nostats"]
    argv += list(args)
    log.debug("ffmpeg: %s", subprocess.list2cmdline(argv))
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if on_progress is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise MediaError(f"could not start ffmpeg ({argv[0]}) for {what}: {exc}",
                         hint="set REELPIPE_FFMPEG to a working ffmpeg binary") from exc

    stderr_chunks: list[bytes] = []

    def _drain_stderr() -> None:
        assert proc.stderr is not None
        for chunk in iter(lambda: proc.stderr.read(8192), b""):  # type: ignore[union-attr]
            stderr_chunks.append(chunk)

    reader = threading.Thread(target=_drain_stderr, daemon=True)
    reader.start()
    if stdin is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass
        proc.stdin.close()
    if on_progress is not None and proc.stdout is not None:
        for raw in proc.stdout:
            line = raw.decode("ascii", "replace").strip()
            if line.startswith("out_time_us=") or line.startswith("out_time_ms="):
                value = line.split("=", 1)[1]
                if value.isdigit():
                    on_progress(int(value) / 1_000_000)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise MediaError(f"ffmpeg timed out after {timeout:.0f} s while {what}") from exc
    reader.join()
    stderr_text = b"".join(stderr_chunks).decode("utf-8", "replace")
    if rc != 0:
        err = _tail(stderr_text)
        raise MediaError(
            f"ffmpeg failed while {what} (exit code {rc}):\n{err or '(no message)'}",
            hint="check that the input files are readable media; run with --debug to see the ffmpeg command",
        )
    if on_progress is not None and duration is not None:
        on_progress(duration)
    return argv, stderr_text


def open_ffmpeg_pipe(args: Sequence[str], *, what: str) -> subprocess.Popen[bytes]:
    """Start ffmpeg reading raw input from stdin (for renderers that generate frames in Python).

    The caller writes frames to ``proc.stdin`` and finishes with :func:`finish_ffmpeg_pipe`.
    """
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    log.debug("ffmpeg pipe: %s", subprocess.list2cmdline(argv))
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise MediaError(f"could not start ffmpeg for {what}: {exc}") from exc


def finish_ffmpeg_pipe(proc: subprocess.Popen[bytes], *, what: str) -> None:
    """Close ffmpeg's stdin, wait for it, and raise :class:`MediaError` if it failed."""
    assert proc.stdin is not None
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.wait()
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed while {what} (exit code {proc.returncode}):\n"
                         f"{_tail(err.decode('utf-8', 'replace')) or '(no message)'}")
