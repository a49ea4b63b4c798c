"""Bio-signal statistics per segment from Empatica E4 (KEMDy20) and KEMDy19 recordings.

Files are read by column position (see ``_COLUMNS``), never by header text:

- KEMDy20 EDA/TEMP: 2 header lines, rows ``value,timestamp[,segment]`` (4 Hz).
- KEMDy20 IBI: 1 header line, rows ``offset_s,ibi_s,timestamp[,segment]`` (one per beat).
- KEMDy19 ECG: rows ``elapsed_s,ecg,timestamp[,segment]``; column 0 is time, never signal.
- KEMDy19 EDA/TEMP: rows ``value,unidentified,timestamp[,segment]`` (4 Hz).

Every segment gets ``len(FEATURE_NAMES)`` statistics and a presence mask over ``SIGNALS``.
A signal is missing (NaN statistics, mask False) when its file is absent or unusable or
the segment holds too few rows or beats. The ``*_rel`` features subtract the median of
the same quantity over the whole recording, which needs no labels and so is equally
available at prediction time.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, detrend, find_peaks, sosfiltfilt

from preprocessing.features.bio_rows import simple_columns
from preprocessing.readers.segment_ids import with_session

logger = logging.getLogger(__name__)

SIGNALS: tuple[str, ...] = ("eda", "temp", "heart")

_EDA_NAMES = ("eda_level", "eda_level_rel", "eda_spread", "eda_slope", "eda_scr_rate", "eda_scr_amplitude")
_TEMP_NAMES = ("temp_level", "temp_level_rel", "temp_slope")
_HEART_NAMES = ("hr_mean", "hr_mean_rel", "hr_sdnn", "hr_rmssd")
FEATURE_NAMES: tuple[str, ...] = _EDA_NAMES + _TEMP_NAMES + _HEART_NAMES

# Columns of FEATURE_NAMES filled by each signal, in SIGNALS order.
_SIGNAL_COLUMNS: dict[str, slice] = {
    "eda": slice(0, len(_EDA_NAMES)),
    "temp": slice(len(_EDA_NAMES), len(_EDA_NAMES) + len(_TEMP_NAMES)),
    "heart": slice(len(_EDA_NAMES) + len(_TEMP_NAMES), len(FEATURE_NAMES)),
}

LAYOUTS: tuple[str, ...] = ("kemdy20", "kemdy19")
_TIMESTAMP_FORMAT = "%Y-%m%d-%H%M-%S-%f"  # 2020-0821-1128-57-250; %f accepts the 3-digit ms
_MAX_EXTRA_HEADER_LINES = 5


class BioFormatError(ValueError):
    """A bio-signal file that cannot be used: ``str()`` is ``"<path>: <reason>"``, the reason
    naming the line where one is known. ``path`` and ``reason`` are also attributes."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class BioSettings:
    """Settings of the bio statistics; recorded in the manifest (``asdict`` is JSON-able)."""

    eda_rate_hz: float = 4.0
    temp_rate_hz: float = 4.0  # recorded for reference; TEMP statistics use the timestamps
    scr_min_amplitude_us: float = 0.02  # smallest skin-conductance response counted
    scr_smooth_s: float = 0.75  # moving-average window before SCR detection
    min_rows: int = 2  # fewer rows in a segment -> that signal missing
    min_beats: int = 2  # fewer beat intervals -> heart missing
    ibi_min_s: float = 0.3  # intervals outside [ibi_min_s, ibi_max_s] are artefacts (200..30 bpm)
    ibi_max_s: float = 2.0
    ecg_low_hz: float = 5.0  # QRS band-pass
    ecg_high_hz: float = 20.0
    ecg_filter_order: int = 3
    r_peak_refractory_s: float = 0.33
    r_peak_envelope_s: float = 2.0  # window of the local amplitude envelope
    r_peak_height_ratio: float = 0.45  # peak must reach this share of the local envelope
    r_peak_floor_ratio: float = 0.2  # ... and this share of the recording's median envelope


@dataclass
class SignalTable:
    """One parsed bio file; all arrays have R rows.

    ``time_s`` (R,) float64 seconds: from the timestamp column relative to the first row
    (EDA/TEMP/IBI) or column 0 (ECG). ``value`` (R,) float64: EDA µS, TEMP °C, IBI s, ECG raw.
    ``segment`` (R,) object str: segment ID of each row, ``""`` outside segments.
    """

    path: Path
    kind: str
    time_s: np.ndarray
    value: np.ndarray
    segment: np.ndarray


@dataclass(frozen=True)
class BioSources:
    """The bio files of one segment; ``heart_kind`` is ``"ibi"``, ``"ecg"`` or None."""

    eda: Path | None
    temp: Path | None
    heart: Path | None
    heart_kind: str | None
    layout: str
    session: str


class BioSelectionError(ValueError):
    """The rows of an utterance cannot be chosen in a recording (e.g. it holds several segments)."""


@dataclass(frozen=True)
class BioWindow:
    """Which rows of a recording belong to one utterance.

    ``segment``: the rows carrying that segment ID (how training selects them).
    ``start_s`` / ``end_s``: rows whose time lies in [start_s, end_s), seconds from the
    file's first row (either end may be open). Neither: the whole file when its rows carry
    no segment ID, the rows of its only segment when they carry one, and an error when
    they carry several.
    """

    segment: str | None = None
    start_s: float | None = None
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.segment is not None and (self.start_s is not None or self.end_s is not None):
            raise BioSelectionError("give a segment ID or a time window, not both")
        if self.start_s is not None and self.end_s is not None and not self.end_s > self.start_s:
            raise BioSelectionError(f"the window's end ({self.end_s:g} s) must come after its start ({self.start_s:g} s)")

    @property
    def is_time_window(self) -> bool:
        return self.start_s is not None or self.end_s is not None


@dataclass(frozen=True)
class _Columns:
    """Where a file layout keeps things: fixed header lines, field count, column positions."""

    header_lines: int
    n_fields: int
    value: int
    time: int  # column parsed as seconds
    time_is_stamp: bool  # True: YYYY-MMDD-HHMM-SS-mmm text; False: plain seconds
    segment: int


_COLUMNS: dict[tuple[str, str], _Columns] = {
    ("kemdy20", "eda"): _Columns(2, 3, value=0, time=1, time_is_stamp=True, segment=2),
    ("kemdy20", "temp"): _Columns(2, 3, value=0, time=1, time_is_stamp=True, segment=2),
    ("kemdy20", "ibi"): _Columns(1, 4, value=1, time=2, time_is_stamp=True, segment=3),
    ("kemdy19", "eda"): _Columns(0, 4, value=0, time=2, time_is_stamp=True, segment=3),
    ("kemdy19", "temp"): _Columns(0, 4, value=0, time=2, time_is_stamp=True, segment=3),
    ("kemdy19", "ecg"): _Columns(0, 4, value=1, time=0, time_is_stamp=False, segment=3),
}


# --------------------------------------------------------------------------- reading


def read_signal_file(path: Path, *, kind: str, layout: str, session: str | None = None) -> SignalTable:
    """Parse one bio CSV by column position into a SignalTable of R rows.

    ``session`` (e.g. ``"Sess17"``) rewrites the session prefix of every segment ID.
    Raises BioFormatError for a file without data rows, non-numeric or non-finite values,
    missing or unreadable timestamps, malformed rows, or time that goes backwards.
    """
    path = Path(path)
    columns = _columns_for(kind, layout)
    text = _normalise_text(path.read_text(encoding="utf-8-sig", errors="replace"))
    body = _Body(path, *_split_header(text, columns.header_lines))
    value, time_field, segment_texts = _simple_fields(body, columns) or _checked_fields(body, columns)
    time_s = _timestamp_seconds(body, time_field) if columns.time_is_stamp else time_field
    _check_time_order(body, time_s)
    segment = _segment_column(segment_texts, session)
    return SignalTable(path=path, kind=kind, time_s=time_s, value=value, segment=segment)


_Fields = tuple[np.ndarray, np.ndarray, np.ndarray]  # value (R,) float64, time (R,), segment texts (R,) object


def _simple_fields(body: _Body, columns: _Columns) -> _Fields | None:
    """The fields of a clean body without pandas (see bio_rows), or None to take the checked path."""
    numeric = frozenset({columns.value} | (set() if columns.time_is_stamp else {columns.time}))
    stamp = columns.time if columns.time_is_stamp else None
    found = simple_columns(body.text, columns.n_fields, numeric, stamp, columns.segment)
    if found is None:
        return None
    return found[columns.value], found[columns.time], found[columns.segment]


def _checked_fields(body: _Body, columns: _Columns) -> _Fields:
    """The fields read by pandas, every value checked; BioFormatError names the first bad line."""
    frame = _read_frame(body, columns)
    value = _numeric_column(body, frame[f"c{columns.value}"], "value")
    if columns.time_is_stamp:
        time_field = frame[f"c{columns.time}"].to_numpy(dtype=object)
    else:
        time_field = _numeric_column(body, frame[f"c{columns.time}"], "time")
    return value, time_field, frame[f"c{columns.segment}"].to_numpy(dtype=object)


def _columns_for(kind: str, layout: str) -> _Columns:
    """The column layout of ``kind`` in ``layout``; ValueError for combinations that do not exist."""
    try:
        return _COLUMNS[(layout, kind)]
    except KeyError:
        known = ", ".join(f"{lay}/{kin}" for lay, kin in _COLUMNS)
        raise ValueError(f"no bio file kind {kind!r} in layout {layout!r} (known: {known})") from None


def _normalise_text(text: str) -> str:
    """Turn CR LF and lone CR into LF; replace NUL, which the CSV tokenizer mishandles."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def _split_header(text: str, header_lines: int) -> tuple[str, int]:
    """Drop the fixed header lines, then up to a few more whose first field is not a number.

    Returns the remaining text and the 1-based file line number of its first line.
    """
    start = 0
    line = 1
    for _ in range(header_lines):
        start, line = _next_line(text, start), line + 1
    for _ in range(_MAX_EXTRA_HEADER_LINES):
        if start >= len(text):
            break
        end = text.find("\n", start)
        first_field = text[start : len(text) if end < 0 else end].split(",", 1)[0]
        if _is_number(first_field):
            break
        start, line = _next_line(text, start), line + 1
    return text[start:], line


def _next_line(text: str, start: int) -> int:
    """Offset of the line after the one starting at ``start`` (len(text) at the end)."""
    end = text.find("\n", start)
    return len(text) if end < 0 else end + 1


def _is_number(text: str) -> bool:
    """True if ``text`` parses as a float (NaN included: a NaN row is data, reported as bad)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class _Body:
    """The data rows of a file as text, with what error messages need to name a line."""

    path: Path
    text: str
    first_line: int  # file line number (1-based) of the first line of ``text``
    _row_lines: np.ndarray | None = field(default=None, repr=False)

    def error(self, reason: str, bad: np.ndarray | None = None) -> BioFormatError:
        """BioFormatError for ``reason``; with a row mask (R,), adds the count and first line."""
        if bad is None:
            return BioFormatError(self.path, reason)
        first = int(np.flatnonzero(bad)[0])
        return BioFormatError(self.path, f"{int(bad.sum())} {reason}, first at {self.where(first)}")

    def where(self, row: int) -> str:
        """``'line N'`` of data row ``row`` (0-based, blank lines skipped)."""
        if self._row_lines is None:
            # Only errors need this, so the split is not paid on good files. Blank means what
            # the pandas tokenizer skips: empty or only spaces and tabs.
            lines = self.text.split("\n")
            numbers = [self.first_line + k for k, line in enumerate(lines) if line.strip(" \t")]
            self._row_lines = np.asarray(numbers, dtype=np.int64)
        if row < len(self._row_lines):
            return f"line {int(self._row_lines[row])}"
        return f"data row {row + 1}"


def _read_frame(body: _Body, columns: _Columns) -> pd.DataFrame:
    """The data rows as columns ``c0..c{n_fields}``; blank lines skipped.

    Rows may be short (the segment field appears only inside segments); a row with more
    than ``n_fields`` fields is an error, caught by one spare column.
    """
    spare = f"c{columns.n_fields}"
    try:
        with warnings.catch_warnings():
            # A long first row only warns (its extra fields are dropped); the spare column
            # is then filled, which is reported below.
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = _read_csv_text(body.text, columns)
    except pd.errors.EmptyDataError:
        raise body.error("no data rows") from None
    except pd.errors.ParserError as error:
        match = re.search(r"line (\d+), saw (\d+)", str(error))
        if match is None:
            raise body.error(f"malformed rows ({error})") from None
        line = int(match[1]) + body.first_line - 1
        raise body.error(f"line {line} has {match[2]} fields, expected at most {columns.n_fields}") from None
    if frame.empty:
        raise body.error("no data rows")
    long_rows = ~pd.isna(frame[spare].to_numpy(dtype=object))
    if long_rows.any():
        raise body.error(f"row(s) with more than {columns.n_fields} fields", long_rows)
    return frame


def _read_csv_text(text: str, columns: _Columns) -> pd.DataFrame:
    """Tokenize ``text`` in C: numeric columns as float64, the others as str objects.

    If a numeric column holds a field that is not a number, the text is read again
    with every column as text, so that the caller can count and locate the bad fields.
    """
    names = [f"c{i}" for i in range(columns.n_fields + 1)]
    numeric = {f"c{columns.value}"} | (set() if columns.time_is_stamp else {f"c{columns.time}"})
    options = {"header": None, "names": names, "index_col": False, "quoting": csv.QUOTE_NONE, "engine": "c"}
    try:
        dtypes = {name: (np.float64 if name in numeric else object) for name in names}
        return pd.read_csv(io.StringIO(text), dtype=dtypes, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        raise
    except ValueError:  # a field in a numeric column is not a number
        return pd.read_csv(io.StringIO(text), dtype=object, **options)


def _numeric_column(body: _Body, column: pd.Series, what: str) -> np.ndarray:
    """Column as finite float64 (R,); BioFormatError naming the count and first bad line."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise body.error(f"non-numeric or non-finite {what} field(s)", bad)
    return values


def _timestamp_seconds(body: _Body, texts: np.ndarray) -> np.ndarray:
    """``YYYY-MMDD-HHMM-SS-mmm`` texts (R,) object as float64 seconds after the first row."""
    stamps = _fixed_width_stamps(texts)
    if stamps is None:
        stripped = pd.Series(texts, dtype=object).str.strip()
        stamps = pd.to_datetime(stripped, format=_TIMESTAMP_FORMAT, errors="coerce").to_numpy()
        bad = np.isnat(stamps)
        if bad.any():
            raise body.error("missing or unreadable timestamp(s) (expected YYYY-MMDD-HHMM-SS-mmm)", bad)
    return (stamps - stamps[0]) / np.timedelta64(1, "s")


# Character positions of 2020-0821-1128-57-250 that must be digits / dashes, and the order in
# which its characters form the ISO text 2020-08-21T11:28:57.250 (-1: separator below).
_STAMP_DIGITS = np.array([0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 18, 19, 20])
_STAMP_DASHES = np.array([4, 9, 14, 17])
_ISO_SOURCE = np.array([0, 1, 2, 3, -1, 5, 6, -1, 7, 8, -1, 10, 11, -1, 12, 13, -1, 15, 16, -1, 18, 19, 20])
_ISO_SEPARATORS = np.array([ord(c) for c in "--T::."], dtype=np.uint32)


def _fixed_width_stamps(texts: np.ndarray) -> np.ndarray | None:
    """Fast path: all R texts exactly ``DDDD-DDDD-DDDD-DD-DDD`` -> datetime64[ms] (R,); else None.

    ``pd.to_datetime`` with a format parses row by row in Python; rearranging the fixed-width
    characters into ISO text lets numpy parse the column in C, about 20x faster.
    """
    chars = np.asarray(texts, dtype="U22").view(np.uint32).reshape(len(texts), 22)  # NaN -> "nan"
    digits = chars[:, _STAMP_DIGITS]
    shape_ok = np.all((digits >= ord("0")) & (digits <= ord("9")))
    shape_ok = shape_ok and np.all(chars[:, _STAMP_DASHES] == ord("-"))
    if chars[:, 21].any() or not shape_ok:
        return None
    iso = chars[:, np.where(_ISO_SOURCE < 0, 0, _ISO_SOURCE)]
    iso[:, _ISO_SOURCE < 0] = _ISO_SEPARATORS
    try:
        return np.ascontiguousarray(iso).view("U23").ravel().astype("datetime64[ms]")
    except ValueError:  # e.g. month 13: let the slow path find and report the line
        return None


def _check_time_order(body: _Body, time_s: np.ndarray) -> None:
    """BioFormatError if time ever decreases (equal consecutive times are allowed)."""
    backwards = np.concatenate([[False], np.diff(time_s) < 0])
    if backwards.any():
        raise body.error("step(s) where time goes backwards", backwards)


def _segment_column(texts: np.ndarray, session: str | None) -> np.ndarray:
    """Segment IDs (R,) object str, ``""`` where absent, session prefix rewritten if given."""
    codes, uniques = pd.factorize(texts)  # missing -> code -1
    labels = [str(u).strip() for u in uniques]
    if session is not None:
        labels = [with_session(u, session) if u else "" for u in labels]
    return np.asarray(labels + [""], dtype=object)[codes]


# --------------------------------------------------------------------------- statistics


def eda_statistics(time_s: np.ndarray, value: np.ndarray, settings: BioSettings) -> dict[str, float]:
    """EDA of one segment, (R,) seconds and (R,) µS -> level, spread, slope, scr_rate, scr_amplitude.

    level = mean µS, spread = std µS, slope = least-squares µS/s, scr_rate = responses per
    second, scr_amplitude = mean rise of the responses in µS (0 if none). All NaN if R < min_rows.
    """
    keys = ("level", "spread", "slope", "scr_rate", "scr_amplitude")
    if len(value) < max(settings.min_rows, 1):
        return dict.fromkeys(keys, np.nan)
    amplitudes = scr_amplitudes(value, settings)
    duration = _duration_s(time_s, settings.eda_rate_hz)
    return {
        "level": float(np.mean(value)),
        "spread": float(np.std(value)),
        "slope": _slope(time_s, value),
        "scr_rate": amplitudes.size / duration,
        "scr_amplitude": float(amplitudes.mean()) if amplitudes.size else 0.0,
    }


def scr_amplitudes(value: np.ndarray, settings: BioSettings) -> np.ndarray:
    """Rise amplitudes (K,) µS of the skin-conductance responses in an EDA trace (R,).

    A response is a local maximum of the lightly smoothed trace whose prominence reaches
    ``scr_min_amplitude_us``; its amplitude is the rise from the trough before it. A rise
    still climbing at the end of the trace has no maximum yet and is not counted.
    """
    smooth = _moving_average(value, max(1, round(settings.scr_smooth_s * settings.eda_rate_hz)))
    peaks, props = find_peaks(smooth, prominence=settings.scr_min_amplitude_us)
    return smooth[peaks] - smooth[props["left_bases"]]


def temp_statistics(time_s: np.ndarray, value: np.ndarray, settings: BioSettings) -> dict[str, float]:
    """Skin temperature of one segment, (R,) s and (R,) °C -> level (mean °C), slope (°C/s)."""
    if len(value) < max(settings.min_rows, 1):
        return {"level": np.nan, "slope": np.nan}
    return {"level": float(np.mean(value)), "slope": _slope(time_s, value)}


def heart_statistics_from_ibi(ibi_s: np.ndarray, settings: BioSettings) -> dict[str, float]:
    """Beat intervals (B,) s -> hr_mean (mean of 60/IBI, bpm), sdnn and rmssd (ms).

    Intervals outside [ibi_min_s, ibi_max_s] are dropped as artefacts; NaN everywhere if
    fewer than ``min_beats`` remain. SDNN uses the sample standard deviation (ddof=1).
    """
    ibi = _plausible(np.asarray(ibi_s, dtype=np.float64), settings)
    if ibi.size < max(settings.min_beats, 2):
        return {"hr_mean": np.nan, "sdnn": np.nan, "rmssd": np.nan}
    return {
        "hr_mean": float(np.mean(60.0 / ibi)),
        "sdnn": float(np.std(ibi, ddof=1) * 1000.0),
        "rmssd": float(np.sqrt(np.mean(np.diff(ibi) ** 2)) * 1000.0),
    }


def detect_r_peaks(time_s: np.ndarray, ecg: np.ndarray, settings: BioSettings) -> np.ndarray:
    """R-peak times (P,) s of an ECG trace sampled at times (R,) s.

    The rate comes from the median time step. The trace is band-passed (QRS band), turned
    so that R points up, and peaks are kept that are a refractory distance apart and reach
    both a share of the local amplitude envelope and a floor tied to the whole trace.
    Returns an empty array when the trace is too short or the rate is implausible.
    """
    time_s = np.asarray(time_s, dtype=np.float64)
    rate = _sampling_rate(time_s)
    if not np.isfinite(rate) or rate < 2.5 * settings.ecg_low_hz:
        logger.warning("ECG sampling rate %.3g Hz is implausible; no R peaks detected", rate)
        return np.empty(0)
    ecg = np.asarray(ecg, dtype=np.float64)
    filtered = _qrs_band(ecg, rate, settings)
    if filtered is None or not _has_qrs_band_content(ecg, filtered):
        return np.empty(0)
    if -np.percentile(filtered, 0.5) > np.percentile(filtered, 99.5):
        filtered = -filtered  # inverted lead
    envelope = maximum_filter1d(np.abs(filtered), size=max(3, round(settings.r_peak_envelope_s * rate)))
    floor = settings.r_peak_floor_ratio * np.median(envelope)
    height = np.maximum(settings.r_peak_height_ratio * envelope, floor)
    distance = max(1, round(settings.r_peak_refractory_s * rate))
    peaks, _ = find_peaks(filtered, height=np.maximum(height, np.finfo(float).tiny), distance=distance)
    return time_s[peaks]


def heart_statistics_from_ecg(time_s: np.ndarray, ecg: np.ndarray, settings: BioSettings) -> dict[str, float]:
    """ECG trace (R,) -> the statistics of ``heart_statistics_from_ibi`` on its R-R intervals."""
    return heart_statistics_from_ibi(np.diff(detect_r_peaks(time_s, ecg, settings)), settings)


def _slope(time_s: np.ndarray, value: np.ndarray) -> float:
    """Least-squares slope of value over time; 0 when time does not vary."""
    t = time_s - time_s.mean()
    denominator = float(np.dot(t, t))
    return float(np.dot(t, value - value.mean()) / denominator) if denominator > 0 else 0.0


def _duration_s(time_s: np.ndarray, rate_hz: float) -> float:
    """Seconds covered by R samples: the time span plus one sample, at least R / rate."""
    span = float(time_s[-1] - time_s[0]) if len(time_s) else 0.0
    return max(span + 1.0 / rate_hz, len(time_s) / rate_hz)


def _moving_average(value: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average (R,) with edge padding, so the ends are not pulled to zero."""
    if width <= 1 or len(value) < 2:
        return np.asarray(value, dtype=np.float64)
    padded = np.pad(value, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.full(width, 1.0 / width), mode="valid")


def _plausible(ibi_s: np.ndarray, settings: BioSettings) -> np.ndarray:
    """The intervals (B,) inside the physiological range."""
    return ibi_s[(ibi_s >= settings.ibi_min_s) & (ibi_s <= settings.ibi_max_s)]


def _sampling_rate(time_s: np.ndarray) -> float:
    """Samples per second from the median positive time step; NaN if there is none."""
    steps = np.diff(time_s)
    steps = steps[steps > 0]
    return 1.0 / float(np.median(steps)) if steps.size else np.nan


def _has_qrs_band_content(ecg: np.ndarray, filtered: np.ndarray) -> bool:
    """False when the band-passed trace is numerically zero, e.g. a flat line or a ramp.

    The relative peak thresholds would otherwise pick rounding noise as beats.
    """
    scale = float(np.max(np.abs(ecg - np.median(ecg))))
    return scale > 0 and float(np.max(np.abs(filtered))) > 1e-9 * scale


def _qrs_band(ecg: np.ndarray, rate: float, settings: BioSettings) -> np.ndarray | None:
    """Zero-phase QRS band-pass of (R,) samples; None when the trace is too short to filter."""
    high = min(settings.ecg_high_hz, 0.45 * rate)
    band = [settings.ecg_low_hz, high]
    sos = butter(settings.ecg_filter_order, band, btype="bandpass", fs=rate, output="sos")
    padlen = 3 * (2 * len(sos) + 1)
    if len(ecg) <= padlen:
        return None
    return sosfiltfilt(sos, detrend(ecg), padlen=padlen)


# --------------------------------------------------------------------------- per recording


@dataclass
class _Recording:
    """One usable file reduced to what the statistics need.

    EDA/TEMP: rows are samples (``time_s``, ``value``). Heart: rows are beats, ``value`` the
    interval in seconds ending at ``time_s``. ``baseline`` is the recording-wide median of the
    level (µS, °C, bpm) that the ``_rel`` feature subtracts.
    """

    signal: str
    time_s: np.ndarray
    value: np.ndarray
    segment: np.ndarray
    baseline: float
    _rows: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def rows_of(self, segment_id: str) -> np.ndarray:
        """Row indices (k,) carrying ``segment_id``, in time order (empty if none)."""
        if self._rows is None:
            self._rows = _index_rows(self.segment)
        return self._rows.get(segment_id, np.empty(0, dtype=np.intp))

    def segment_ids(self) -> list[str]:
        """The distinct segment IDs the recording's rows carry."""
        if self._rows is None:
            self._rows = _index_rows(self.segment)
        return list(self._rows)


def _index_rows(segment: np.ndarray) -> dict[str, np.ndarray]:
    """Map each segment ID to its row indices, built in one pass over the (R,) labels."""
    codes, uniques = pd.factorize(segment)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(u): order[bounds[i] : bounds[i + 1]] for i, u in enumerate(uniques) if u != ""}


def _recording(table: SignalTable, signal: str, settings: BioSettings) -> _Recording:
    """Reduce a parsed table to a _Recording for ``signal`` ("eda", "temp" or "heart")."""
    if signal != "heart":
        if table.kind != signal:
            raise ValueError(f"{table.path}: a {table.kind!r} table cannot serve as {signal!r}")
        return _Recording(signal, table.time_s, table.value, table.segment, float(np.median(table.value)))
    if table.kind == "ecg":
        beat_time, ibi, segment = _beats_from_ecg(table, settings)
    elif table.kind == "ibi":
        beat_time, ibi, segment = table.time_s, table.value, table.segment
    else:
        raise ValueError(f"{table.path}: a {table.kind!r} table is not a heart signal")
    plausible = _plausible(ibi, settings)
    baseline = float(np.median(60.0 / plausible)) if plausible.size else np.nan
    return _Recording("heart", beat_time, ibi, segment, baseline)


def _beats_from_ecg(table: SignalTable, settings: BioSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beats of a whole ECG table: (B,) time of each R peak after the first, its R-R
    interval (s) and the segment ID of the row holding that peak.

    Detecting once per recording avoids filter edge effects at segment borders.
    """
    peak_times = detect_r_peaks(table.time_s, table.value, settings)
    rows = np.searchsorted(table.time_s, peak_times)
    return peak_times[1:], np.diff(peak_times), table.segment[rows[1:]]


def _block(recording: _Recording, rows: np.ndarray, settings: BioSettings) -> np.ndarray:
    """Statistics of ``rows`` of a recording in FEATURE_NAMES order for its signal."""
    time_s, value = recording.time_s[rows], recording.value[rows]
    if recording.signal == "eda":
        s = eda_statistics(time_s, value, settings)
        level_rel = s["level"] - recording.baseline
        out = [s["level"], level_rel, s["spread"], s["slope"], s["scr_rate"], s["scr_amplitude"]]
    elif recording.signal == "temp":
        s = temp_statistics(time_s, value, settings)
        out = [s["level"], s["level"] - recording.baseline, s["slope"]]
    else:
        s = heart_statistics_from_ibi(value, settings)
        out = [s["hr_mean"], s["hr_mean"] - recording.baseline, s["sdnn"], s["rmssd"]]
    return np.asarray(out, dtype=np.float64)


def _empty_outputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """NaN statistics (n, F) float32 and an all-False mask (n, 3)."""
    return np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32), np.zeros((n, len(SIGNALS)), dtype=bool)


def _store(stats: np.ndarray, mask: np.ndarray, i: int, signal: str, block: np.ndarray) -> None:
    """Write one signal's block into row i if every value is finite (else leave it missing)."""
    if np.all(np.isfinite(block)):
        stats[i, _SIGNAL_COLUMNS[signal]] = block
        mask[i, SIGNALS.index(signal)] = True


def select_rows(recording: _Recording, window: BioWindow, source: Path | str = "") -> np.ndarray:
    """Row indices (k,) of ``recording`` that ``window`` selects (see BioWindow), in time order."""
    if window.segment is not None:
        return recording.rows_of(window.segment)
    if window.is_time_window:
        start = -np.inf if window.start_s is None else window.start_s
        end = np.inf if window.end_s is None else window.end_s
        return np.flatnonzero((recording.time_s >= start) & (recording.time_s < end))
    ids = recording.segment_ids()
    if not ids:
        return np.arange(len(recording.segment))
    if len(ids) == 1:
        return recording.rows_of(ids[0])
    raise BioSelectionError(
        f"{source}: holds {len(ids)} segments ({ids[0]}, {ids[1]}, ...); choose one by its segment ID "
        "or give a time window (start/end seconds)"
    )


def signal_features(recording: _Recording, window: BioWindow, settings: BioSettings,
                    source: Path | str = "") -> np.ndarray:
    """One signal's statistics of one utterance, in FEATURE_NAMES order for that signal.

    The one computation behind both training (``segment_features``) and prediction
    (``features_for_recording``): the same rows, the same recording-wide baseline.
    """
    return _block(recording, select_rows(recording, window, source), settings)


def features_for_recording(
    eda: SignalTable | None,
    temp: SignalTable | None,
    heart: SignalTable | None,
    settings: BioSettings,
    window: BioWindow = BioWindow(),
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics (F,) float32 and presence mask (3,) bool of one utterance in these recordings.

    ``window`` chooses the utterance's rows of every table (see BioWindow); all rows of a
    table are the baseline of its ``_rel`` features, as in training. ``heart`` is an IBI or
    ECG table. BioSelectionError if a table holds several segments and no window is given.
    """
    stats, mask = _empty_outputs(1)
    for signal, table in zip(SIGNALS, (eda, temp, heart)):
        if table is None:
            continue
        recording = _recording(table, signal, settings)
        _store(stats, mask, 0, signal, signal_features(recording, window, settings, table.path))
    return stats[0], mask[0]


# --------------------------------------------------------------------------- per segment


def segment_features(
    segment_ids: Sequence[str],
    sources: Sequence[BioSources],
    settings: BioSettings,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Statistics of N segments from their bio files, each file parsed once.

    ``segment_ids`` are N canonical IDs; ``sources[i]`` names the files of segment i.
    Returns statistics (N, F) float32 (NaN where a signal is missing), a presence mask
    (N, 3) bool in SIGNALS order, and one ``(path, reason)`` per file that could not be used.
    """
    if len(segment_ids) != len(sources):
        raise ValueError(f"{len(segment_ids)} segment IDs but {len(sources)} sources")
    stats, mask = _empty_outputs(len(segment_ids))
    problems: dict[str, str] = {}  # path -> reason; a file named twice is reported once
    for (signal, path, kind, layout, session), members in _group_by_file(sources).items():
        try:
            table = read_signal_file(path, kind=kind, layout=layout, session=session)
        except BioFormatError as error:
            problems.setdefault(str(path), error.reason)
            logger.warning("bio file not used: %s", error)
            continue
        except OSError as error:
            problems.setdefault(str(path), f"cannot read: {error.strerror or error}")
            logger.warning("bio file not used: %s: %s", path, error)
            continue
        recording = _recording(table, signal, settings)
        for i in members:
            _store(stats, mask, i, signal, signal_features(recording, BioWindow(segment=segment_ids[i]), settings))
    logger.info(
        "bio statistics for %d segments: %s present; %d unusable file(s)",
        len(segment_ids),
        ", ".join(f"{name} {int(n)}" for name, n in zip(SIGNALS, mask.sum(axis=0))),
        len(problems),
    )
    return stats, mask, list(problems.items())


_FileKey = tuple[str, Path, str, str, str]  # signal, path, kind, layout, session


def _group_by_file(sources: Sequence[BioSources]) -> dict[_FileKey, list[int]]:
    """Segment indices per (signal, file, kind, layout, session), in first-seen order."""
    groups: dict[_FileKey, list[int]] = {}
    for i, source in enumerate(sources):
        for signal, path, kind in _files_of(source):
            path = path if isinstance(path, Path) else Path(path)
            groups.setdefault((signal, path, kind, source.layout, source.session), []).append(i)
    return groups


def _files_of(source: BioSources) -> list[tuple[str, Path, str]]:
    """(signal, path, kind) for each bio file a segment names."""
    if source.layout not in LAYOUTS:
        raise ValueError(f"unknown layout {source.layout!r}; expected one of {LAYOUTS}")
    pairs = (("eda", source.eda), ("temp", source.temp))
    files = [(signal, path, signal) for signal, path in pairs if path is not None]
    if source.heart is not None:
        if source.heart_kind not in ("ibi", "ecg"):
            raise ValueError(
                f"heart file {source.heart} needs heart_kind 'ibi' or 'ecg', not {source.heart_kind!r}"
            )
        files.append(("heart", source.heart, source.heart_kind))
    return files
