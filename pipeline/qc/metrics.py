"""The per-clip QC metrics, as functions of decoded frames (NumPy arrays), so each can be tested alone.

Frame ``i`` is shown from ``times[i]`` for ``1 / fps`` seconds. A *transition* ``i`` is the change from frame
``i - 1`` to frame ``i``; arrays indexed by transition have a meaningless entry at 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.qc.result import Finding

__all__ = [
    "FrameStats",
    "MotionSteps",
    "bool_runs",
    "content_diffs",
    "estimate_motion",
    "find_black_blank",
    "find_cuts",
    "find_flicker",
    "find_frozen",
    "find_jitter",
    "find_motion",
    "frame_stats",
    "hist_distances",
    "subtract_intervals",
]


def bool_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` as ``(first, last)`` index pairs (inclusive)."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return []
    padded = np.concatenate([[False], m, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def subtract_intervals(start: float, end: float,
                       holes: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``[start, end)`` not covered by any interval in ``holes``."""
    pieces = [(start, end)]
    for h0, h1 in sorted(holes):
        nxt: list[tuple[float, float]] = []
        for a, b in pieces:
            if h1 <= a or h0 >= b:
                nxt.append((a, b))
                continue
            if h0 > a:
                nxt.append((a, h0))
            if h1 < b:
                nxt.append((h1, b))
        pieces = nxt
    return [(a, b) for a, b in pieces if b - a > 1e-9]


@dataclass(frozen=True)
class FrameStats:
    """Per-frame summary numbers (0–255 levels)."""

    luma: np.ndarray  # mean luma
    luma_std: np.ndarray  # spatial standard deviation of luma
    cb: np.ndarray  # mean Cb (BT.601, 128 = neutral)
    cr: np.ndarray  # mean Cr


def frame_stats(bgr: np.ndarray, gray: np.ndarray) -> FrameStats:
    """Compute :class:`FrameStats` for ``(n, h, w, 3)`` BGR frames and their ``(n, h, w)`` luma."""
    import cv2

    n = gray.shape[0]
    luma = np.empty(n, dtype=np.float64)
    luma_std = np.empty(n, dtype=np.float64)
    means = np.empty((n, 3), dtype=np.float64)  # B, G, R
    for i in range(n):
        mean, std = cv2.meanStdDev(gray[i])
        luma[i], luma_std[i] = float(mean[0, 0]), float(std[0, 0])
        means[i] = cv2.mean(bgr[i])[:3]
    b, g, r = means[:, 0], means[:, 1], means[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 + 0.564 * (b - y)
    cr = 128.0 + 0.713 * (r - y)
    return FrameStats(luma=luma, luma_std=luma_std, cb=cb, cr=cr)


def _span(times: np.ndarray, fps: float, first: int, last: int) -> tuple[float, float]:
    return float(times[first]), float(times[last] + 1.0 / fps)


def _fmt_span(a: float, b: float) -> str:
    return f"{a:.2f}–{b:.2f} s"


# ---------------------------------------------------------------------------------------------- black/blank


def find_black_blank(gray: np.ndarray, stats: FrameStats, times: np.ndarray, fps: float,
                     th: dict[str, float]) -> tuple[list[Finding], np.ndarray]:
    """Find black frames and blank (flat, any colour) frames, single frames included.

    Returns:
        The findings (one per run of consecutive frames, severity fail) and a per-frame mask of the frames
        found, which the other metrics leave out.
    """
    n = gray.shape[0]
    dark_ratio = (gray.reshape(n, -1) <= th["black_pixel_luma"]).mean(axis=1)
    black = dark_ratio >= th["black_ratio"]
    blank = (stats.luma_std < th["blank_std_max"]) & ~black
    findings: list[Finding] = []
    for first, last in bool_runs(black):
        a, b = _span(times, fps, first, last)
        count = last - first + 1
        findings.append(Finding(
            "black", "fail", a, b, float(dark_ratio[first:last + 1].min()), th["black_ratio"], "black_ratio",
            f"{count} black frame{'s' if count > 1 else ''} at {_fmt_span(a, b)}"))
    for first, last in bool_runs(blank):
        a, b = _span(times, fps, first, last)
        count = last - first + 1
        level = float(np.median(stats.luma[first:last + 1]))
        findings.append(Finding(
            "blank", "fail", a, b, float(stats.luma_std[first:last + 1].max()), th["blank_std_max"],
            "blank_std_max",
            f"{count} blank frame{'s' if count > 1 else ''} (flat, luma {level:.0f}) at {_fmt_span(a, b)}"))
    return findings, black | blank


# ---------------------------------------------------------------------------------------------- frozen


def find_frozen(gray: np.ndarray, bad: np.ndarray, times: np.ndarray, fps: float, th: dict[str, float],
                holds: Sequence[tuple[float, float]]) -> tuple[list[Finding], float]:
    """Find frozen runs: stretches where the picture does not change over a quarter second.

    Frame ``j`` is frozen when its mean absolute luma difference from the frame a quarter second before
    it, or after it, is below ``freeze_diff_floor``; or, up to ``freeze_diff_max``, no more than 1.5 times
    the difference between neighbouring frames there (grain and codec noise, which do not add up, where
    motion does). Measuring over a quarter second, not frame to frame, keeps slow and eased camera moves
    from reading as frozen, while the encoder's refinement of a still picture does not break a run.
    Time inside ``holds`` is not a defect; what is left of a run outside them must reach
    ``freeze_warn_s``.

    Returns:
        The findings and the longest frozen run outside holds, in seconds.
    """
    import cv2

    n = gray.shape[0]
    floor, ceiling = th["freeze_diff_floor"], th["freeze_diff_max"]
    lag = max(1, round(fps / 4))

    def diff(a: int, b: int) -> float:
        return float(cv2.mean(cv2.absdiff(gray[a], gray[b]))[0])

    def still(a: int, b: int, step_a: int, step_b: int) -> bool:
        if a == b or bad[a] or bad[b] or bad[step_a] or bad[step_b]:
            return False
        change = diff(a, b)
        return change < floor or change < min(ceiling, 1.5 * diff(step_a, step_b))

    frozen = np.zeros(n, dtype=bool)
    for j in range(n):
        if bad[j]:
            continue
        back, fwd = max(0, j - lag), min(n - 1, j + lag)
        frozen[j] = (j > 0 and still(j, back, j, j - 1)) or (j < n - 1 and still(fwd, j, j + 1, j))
    runs = [(a, b) for a, b in bool_runs(frozen) if b > a]
    findings: list[Finding] = []
    longest = 0.0
    for first, last in runs:
        a, b = _span(times, fps, first, last)
        for pa, pb in subtract_intervals(a, b, holds):
            length = pb - pa
            longest = max(longest, length)
            if length + 1e-6 < th["freeze_warn_s"]:
                continue
            fail = length + 1e-6 >= th["freeze_fail_s"]
            findings.append(Finding(
                "frozen", "fail" if fail else "warn", pa, pb, length,
                th["freeze_fail_s"] if fail else th["freeze_warn_s"],
                "freeze_fail_s" if fail else "freeze_warn_s",
                f"frozen for {length:.2f} s at {_fmt_span(pa, pb)} (no intended hold there)"))
    return findings, longest


# ---------------------------------------------------------------------------------------------- cuts


def content_diffs(gray: np.ndarray) -> np.ndarray:
    """Mean absolute luma difference of each frame from the previous one (index 0 is 0)."""
    import cv2

    n = gray.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(1, n):
        out[i] = cv2.mean(cv2.absdiff(gray[i], gray[i - 1]))[0]
    return out


def _hs_hist(bgr: np.ndarray) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)


def hist_distances(bgr: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance (0 same, 1 disjoint) of each frame's HSV histogram from the previous one."""
    import cv2

    n = bgr.shape[0]
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    prev = _hs_hist(bgr[0])
    for i in range(1, n):
        cur = _hs_hist(bgr[i])
        out[i] = float(cv2.compareHist(prev, cur, cv2.HISTCMP_BHATTACHARYYA))
        prev = cur
    return out


def _compensated_diff(prev: np.ndarray, cur: np.ndarray) -> float:
    """Mean absolute luma difference after undoing the global shift between two frames.

    A camera that jumps (a skipped stretch, a whip) moves the whole picture: large raw difference, same
    scene. Only a change that survives the shift is a candidate cut.
    """
    import cv2

    a, b = prev.astype(np.float32), cur.astype(np.float32)
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    # copies: OpenCV 5's phaseCorrelate applies the window to its inputs in place
    (dx, dy), _response = cv2.phaseCorrelate(a.copy(), b.copy(), window)
    h, w = a.shape
    ix, iy = round(dx), round(dy)
    if abs(ix) >= w // 2 or abs(iy) >= h // 2:
        return float(np.abs(b - a).mean())
    # the overlap of prev moved by (ix, iy) with cur
    pa = a[max(0, -iy):h - max(0, iy), max(0, -ix):w - max(0, ix)]
    pb = b[max(0, iy):h - max(0, -iy), max(0, ix):w - max(0, -ix)]
    return float(min(np.abs(b - a).mean(), np.abs(pb - pa).mean()))


def _returns(g: np.ndarray, bad: np.ndarray, i: int, change: float) -> bool:
    """Whether the change at transition ``i`` undoes itself within two frames (a flash, not a cut).

    Frames ``k`` before and ``k`` after the change (k = 1, 2) are compared; a cut keeps them apart.
    """
    n = g.shape[0]
    for k in (1, 2):
        before, after = i - 1 - k, i + k
        if before < 0 or after >= n or bad[before] or bad[after]:
            continue
        if float(np.abs(g[after] - g[before]).mean()) < 0.5 * change:
            return True
    return False


def find_cuts(gray: np.ndarray, content: np.ndarray, hist: np.ndarray, scdet: np.ndarray | None,
              bad: np.ndarray, times: np.ndarray, fps: float,
              th: dict[str, float]) -> tuple[list[Finding], list[int]]:
    """Find cuts inside the clip: transitions where at least ``cut_votes`` detectors agree.

    Detectors: content (a luma difference that is large, stands out from the surrounding second and
    survives undoing the global shift, so a camera jump is not a cut), the colour histogram, and ffmpeg's
    ``scdet`` score (``scdet`` may be None when it could not run). A change that comes back within two
    frames (a flash) is not a cut, and neither is a change into or out of a black or blank frame (reported
    as such).

    Returns:
        The findings and the transition indices of the cuts.
    """
    n = gray.shape[0]
    half = max(2, round(fps / 2))
    need = round(th["cut_votes"])
    g = gray.astype(np.int16)
    cuts: list[int] = []
    votes_at: dict[int, list[str]] = {}
    for i in range(1, n):
        if bad[i] or bad[i - 1]:
            continue
        lo, hi = max(1, i - half), min(n, i + half + 1)
        around = np.concatenate([content[lo:max(lo, i - 1)], content[min(hi, i + 2):hi]])
        local = float(np.median(around)) if around.size else 0.0
        votes: list[str] = []
        if (content[i] >= th["cut_content_min"] and content[i] >= th["cut_content_ratio"] * max(local, 0.5)
                and _compensated_diff(gray[i - 1], gray[i]) >= th["cut_content_min"]):
            votes.append("content")
        if hist[i] >= th["cut_hist_min"]:
            votes.append("histogram")
        if scdet is not None and scdet[i] >= th["cut_scdet_min"]:
            votes.append("scdet")
        if len(votes) < need:
            continue
        if _returns(g, bad, i, content[i]):
            continue  # a flash: the picture comes back
        if cuts and i - cuts[-1] <= 2:  # one cut, several frames: keep the strongest
            if content[i] > content[cuts[-1]]:
                votes_at.pop(cuts[-1], None)
                cuts[-1] = i
                votes_at[i] = votes
            continue
        cuts.append(i)
        votes_at[i] = votes
    findings = [
        Finding("cut", "fail", float(times[i]), float(times[i]), float(len(votes_at[i])), th["cut_votes"],
                "cut_votes",
                f"cut inside the shot at {times[i]:.2f} s ({', '.join(votes_at[i])} detectors agree)")
        for i in cuts
    ]
    return findings, cuts


# ---------------------------------------------------------------------------------------------- flicker


def _spike_residual(values: np.ndarray, valid: np.ndarray, k: int = 3) -> np.ndarray:
    """How far each value stands out from the median of its ``k`` valid neighbours on *each* side.

    The smaller of the two distances, and only when the value is above both sides or below both: a step
    (a cut, a light switched on) stands out from one side only and scores 0. At the clip's ends, where one
    side is missing, the other decides.
    """
    n = values.size
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        if not valid[i]:
            continue
        left = [j for j in range(max(0, i - k), i) if valid[j]]
        right = [j for j in range(i + 1, min(n, i + k + 1)) if valid[j]]
        sides = [values[i] - float(np.median(values[idx])) for idx in (left, right) if len(idx) >= 2]
        if not sides:
            continue
        if len(sides) == 2 and np.sign(sides[0]) != np.sign(sides[1]):
            continue
        out[i] = min(abs(d) for d in sides)
    return out


def find_flicker(stats: FrameStats, bad: np.ndarray, times: np.ndarray, fps: float,
                 th: dict[str, float]) -> tuple[list[Finding], dict[str, float | None]]:
    """Find flicker: single-frame luma or colour spikes, and periodic brightness pulsing.

    A spike is a frame whose mean luma (or mean Cb/Cr) stands out from the median of its three neighbours
    on each side; a cut is a step, not a spike, so it does not register. Pulsing is a clear peak between
    1.5 Hz and 12 Hz in the spectrum of the luma curve after its one-second running median is removed;
    luma spikes no larger than the pulse explains are not reported again.

    Returns:
        The findings and the metrics ``flicker_luma``, ``flicker_chroma`` (largest spikes, levels) and
        ``flicker_pulse_amp``, ``flicker_pulse_hz``.
    """
    valid = ~bad
    r_luma = _spike_residual(stats.luma, valid)
    r_chroma = np.maximum(_spike_residual(stats.cb, valid), _spike_residual(stats.cr, valid))
    findings: list[Finding] = []
    amp, hz = _pulse(stats.luma, valid, fps, th)
    # the crests of a pulse stand out from their neighbours too; report them once, as the pulse
    explained = 2.5 * amp if amp is not None else 0.0
    for series, kind, warn_name, fail_name in ((r_luma, "luma", "flicker_luma_warn", "flicker_luma_fail"),
                                               (r_chroma, "colour", "flicker_chroma_warn",
                                                "flicker_chroma_fail")):
        for first, last in bool_runs(series > th[warn_name]):
            peak = float(series[first:last + 1].max())
            if kind == "luma" and peak <= explained:
                continue
            fail = peak > th[fail_name]
            a, b = _span(times, fps, first, last)
            findings.append(Finding(
                "flicker", "fail" if fail else "warn", a, b, peak, th[fail_name if fail else warn_name],
                fail_name if fail else warn_name,
                f"{kind} flash of {peak:.1f} levels at {_fmt_span(a, b)}"))
    if amp is not None and hz is not None:
        a, b = float(times[0]), float(times[-1] + 1.0 / fps)
        findings.append(Finding(
            "flicker", "warn", a, b, amp, th["flicker_pulse_amp"], "flicker_pulse_amp",
            f"brightness pulses at {hz:.1f} Hz, ±{amp:.1f} levels, through the clip"))
    metrics: dict[str, float | None] = {
        "flicker_luma": float(r_luma.max()) if r_luma.size else 0.0,
        "flicker_chroma": float(r_chroma.max()) if r_chroma.size else 0.0,
        "flicker_pulse_amp": amp,
        "flicker_pulse_hz": hz,
    }
    return findings, metrics


def _pulse(luma: np.ndarray, valid: np.ndarray, fps: float,
           th: dict[str, float]) -> tuple[float | None, float | None]:
    """Amplitude and frequency of periodic pulsing in ``luma``, or (None, None) when there is none."""
    n = luma.size
    if n < max(16, int(1.5 * fps)):
        return None, None
    values = luma.astype(np.float64).copy()
    if not valid.all():
        if valid.sum() < 16:
            return None, None
        idx = np.arange(n)
        values[~valid] = np.interp(idx[~valid], idx[valid], values[valid])
    # a running median over a second removes slow changes and steps (cuts) but not pulses above 1 Hz
    half = max(2, round(fps / 2))
    pad = np.pad(values, (half, half), mode="edge")
    trend = np.array([np.median(pad[i:i + 2 * half + 1]) for i in range(n)])
    detrended = values - trend
    window = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(detrended * window))
    freqs = np.fft.rfftfreq(n, d=1.0 / fps)
    band = (freqs >= 1.5) & (freqs <= min(12.0, fps / 2.0 - 0.5))
    if band.sum() < 4:
        return None, None
    band_power = spectrum[band] ** 2
    k = int(np.argmax(band_power))
    floor = float(np.median(band_power)) or 1e-12
    amplitude = 2.0 * float(spectrum[band][k]) / float(window.sum())
    if amplitude >= th["flicker_pulse_amp"] and band_power[k] / floor >= th["flicker_pulse_prominence"]:
        return amplitude, float(freqs[band][k])
    return None, None


# ---------------------------------------------------------------------------------------------- motion


@dataclass(frozen=True)
class MotionSteps:
    """Camera motion between consecutive frames, in analysis pixels, about the frame centre.

    Attributes:
        params: ``(n, 4)``: dx, dy, log scale, rotation (radians) of transition ``i``; NaN where the
            estimate failed (too few trackable features, or no consistent motion).
        speeds: median feature speed, analysis px per second, of each sample pair used for motion amount.
        speed_times: the start time of each sample pair.
    """

    params: np.ndarray
    speeds: np.ndarray
    speed_times: np.ndarray


def _track(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    import cv2

    p0 = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=6, blockSize=5)
    if p0 is None or len(p0) < 12:
        return None
    # the stubs do not accept None for the output points, which OpenCV does
    p1, status, _err = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        prev, cur, p0, None, winSize=(15, 15), maxLevel=3)
    if p1 is None:
        return None
    ok = status.reshape(-1) == 1
    if ok.sum() < 12:
        return None
    return p0.reshape(-1, 2)[ok], p1.reshape(-1, 2)[ok]


def estimate_motion(gray: np.ndarray, times: np.ndarray, fps: float) -> MotionSteps:
    """Track features between consecutive frames (camera path) and between frames a quarter second apart
    (motion amount, where a longer baseline keeps codec noise from reading as motion)."""
    import cv2

    n, h, w = gray.shape
    centre = np.array([w / 2.0, h / 2.0], dtype=np.float32)
    params = np.full((n, 4), np.nan, dtype=np.float64)
    for i in range(1, n):
        tracked = _track(gray[i - 1], gray[i])
        if tracked is None:
            continue
        a, b = tracked[0] - centre, tracked[1] - centre
        matrix, inliers = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if matrix is None or inliers is None or int(inliers.sum()) < max(10, 0.5 * len(a)):
            continue
        scale = math.hypot(float(matrix[0, 0]), float(matrix[1, 0]))
        if not 0.5 < scale < 2.0:
            continue
        params[i] = (float(matrix[0, 2]), float(matrix[1, 2]), math.log(scale),
                     math.atan2(float(matrix[1, 0]), float(matrix[0, 0])))
    stride = max(1, round(fps / 4))
    speeds: list[float] = []
    speed_times: list[float] = []
    for i in range(0, n - stride, stride):
        tracked = _track(gray[i], gray[i + stride])
        if tracked is None:
            continue
        moved = np.linalg.norm(tracked[1] - tracked[0], axis=1)
        dt = float(times[i + stride] - times[i]) or stride / fps
        speeds.append(float(np.median(moved)) / dt)
        speed_times.append(float(times[i]))
    return MotionSteps(params=params, speeds=np.asarray(speeds), speed_times=np.asarray(speed_times))


def _smooth_path(path: np.ndarray, half: int, order: int = 3) -> np.ndarray:
    """Savitzky–Golay smoothing along axis 0: a cubic fitted over ``2 * half + 1`` frames around each one.

    A local cubic follows eased camera moves (ease-in/ease-out curves are cubic) without the lag a moving
    average has on accelerating motion, which would read as shake; frame-to-frame shake does not fit it.
    The first and last ``half`` frames take the cubic fitted to the first and last window.
    """
    n = path.shape[0]
    win = 2 * half + 1
    if n <= order + 1:
        return path.copy()
    if n < win:
        x = np.arange(n, dtype=np.float64)
        fit = np.polyfit(x, path, order)
        return np.stack([np.polyval(fit[:, c], x) for c in range(path.shape[1])], axis=1)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    design = np.vander(offsets, order + 1, increasing=True)
    centre_weights = np.linalg.pinv(design)[0]  # the fitted value at offset 0
    out = np.empty_like(path)
    for c in range(path.shape[1]):
        out[half:n - half, c] = np.convolve(path[:, c], centre_weights[::-1], mode="valid")
    x = np.arange(win, dtype=np.float64)
    head = np.polyfit(x, path[:win], order)
    tail = np.polyfit(x, path[-win:], order)
    for c in range(path.shape[1]):
        out[:half, c] = np.polyval(head[:, c], x[:half])
        out[n - half:, c] = np.polyval(tail[:, c], x[win - half:])
    return out


def _isolated_jumps(velocity: np.ndarray, floor: float) -> np.ndarray:
    """Transitions where the picture jumps once while the frames around it move steadily.

    A jump (a skipped stretch after a stall) is one large step, not shake, which keeps going back and
    forth; it is left out of the path. ``velocity`` is ``(n, 2)`` in output px per frame.
    """
    n = velocity.shape[0]
    dev = np.zeros(n, dtype=np.float64)
    for i in range(1, n):
        nb = [j for j in range(max(1, i - 3), min(n, i + 4)) if j != i]
        if len(nb) >= 2:
            dev[i] = float(np.hypot(*(velocity[i] - np.median(velocity[nb], axis=0))))
    jumps = np.zeros(n, dtype=bool)
    for i in range(1, n):
        nb = [j for j in range(max(1, i - 3), min(n, i + 4)) if j != i]
        if dev[i] > 2.0 * floor and nb and dev[i] > 4.0 * float(dev[nb].max()):
            jumps[i] = True
    return jumps


def find_jitter(steps: MotionSteps, skip: np.ndarray, times: np.ndarray, fps: float, output_scale: float,
                output_diag: float, th: dict[str, float]) -> tuple[list[Finding], float | None, np.ndarray]:
    """Find shake: what is left of the camera path after smoothing it (a local cubic over half a second).

    Transitions in ``skip`` (cuts, black or blank frames), failed estimates and isolated jumps take the
    motion of their neighbours. Translation residuals count fully; scale and rotation residuals count as the displacement
    they cause a quarter diagonal from the centre. Shake is the RMS over half-second windows, in output px.

    Returns:
        The findings, the largest windowed shake (None when the path could not be estimated) and the
        per-frame shake in output px.
    """
    n = steps.params.shape[0]
    shake = np.zeros(n, dtype=np.float64)
    if n < 4:
        return [], None, shake
    vel = steps.params.copy()
    vel[0] = 0.0
    bad = np.isnan(vel[:, 0]) | skip
    bad[0] = False
    good_idx = np.flatnonzero(~bad)
    if good_idx.size < max(3, n // 3):
        return [], None, shake
    idx = np.arange(n)
    for c in range(4):
        vel[bad, c] = np.interp(idx[bad], good_idx, vel[good_idx, c])
    jumps = _isolated_jumps(vel[:, :2] * output_scale, th["jitter_fail_px"])
    if jumps.any():
        bad |= jumps
        good_idx = np.flatnonzero(~bad)
        for c in range(4):
            vel[bad, c] = np.interp(idx[bad], good_idx, vel[good_idx, c])
    path = np.cumsum(vel, axis=0)
    residual = path - _smooth_path(path, half=max(2, round(fps / 4)))
    radius = 0.25 * output_diag
    shake = np.sqrt((residual[:, 0] ** 2 + residual[:, 1] ** 2) * output_scale ** 2
                    + (residual[:, 2] * radius) ** 2 + (residual[:, 3] * radius) ** 2)
    win = max(3, round(fps / 2))
    windowed = np.sqrt(np.convolve(np.pad(shake ** 2, (win // 2, win - 1 - win // 2), mode="edge"),
                                   np.ones(win) / win, mode="valid"))
    findings: list[Finding] = []
    for first, last in bool_runs(windowed > th["jitter_warn_px"]):
        peak = float(windowed[first:last + 1].max())
        # the window smears the run by a quarter second each way: report the frames that shook
        own = np.flatnonzero(shake[first:last + 1] > th["jitter_warn_px"])
        if own.size:
            first, last = first + int(own[0]), first + int(own[-1])
        fail = peak > th["jitter_fail_px"]
        a, b = _span(times, fps, first, last)
        findings.append(Finding(
            "jitter", "fail" if fail else "warn", a, b, peak,
            th["jitter_fail_px" if fail else "jitter_warn_px"], "jitter_fail_px" if fail else "jitter_warn_px",
            f"camera shake of {peak:.1f} px RMS at {_fmt_span(a, b)}"))
    return findings, float(windowed.max()), shake


def find_motion(steps: MotionSteps, expects_motion: bool | None, holds: Sequence[tuple[float, float]],
                duration: float, output_scale: float, th: dict[str, float]) -> tuple[list[Finding], float | None]:
    """Measure how much the picture moves; a shot that should move but does not is a failure.

    The amount is the mean, over quarter-second samples outside holds, of the median feature speed, in
    output px per second.

    Returns:
        The findings and the motion amount (None when nothing could be tracked).
    """
    keep = np.ones(steps.speeds.size, dtype=bool)
    for i, t in enumerate(steps.speed_times):
        if any(h0 <= t < h1 for h0, h1 in holds):
            keep[i] = False
    if not keep.any():
        return [], None
    amount = float(steps.speeds[keep].mean()) * output_scale
    findings: list[Finding] = []
    if expects_motion and amount < th["motion_min_px_s"]:
        findings.append(Finding(
            "motion", "fail", 0.0, duration, amount, th["motion_min_px_s"], "motion_min_px_s",
            f"the shot should move but is nearly static ({amount:.2f} px/s)"))
    return findings, amount
