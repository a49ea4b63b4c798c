"""Tests of preprocessing/features/bio.py: parsing by position, segment selection, statistics, robustness."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from preprocessing.features import bio
from preprocessing.features.bio import (
    FEATURE_NAMES,
    SIGNALS,
    BioFormatError,
    BioSelectionError,
    BioSettings,
    BioSources,
    BioWindow,
    SignalTable,
    detect_r_peaks,
    eda_statistics,
    features_for_recording,
    heart_statistics_from_ecg,
    heart_statistics_from_ibi,
    read_signal_file,
    scr_amplitudes,
    segment_features,
    temp_statistics,
)
from tests.bio_fixtures import (
    kemdy19_e4_text,
    kemdy19_ecg_text,
    kemdy20_e4_text,
    kemdy20_ibi_text,
    label_rows,
    make_synthetic_bio_files,
    stamps,
)

SETTINGS = BioSettings()
COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
FILE_KINDS = [
    ("kemdy20", "eda"), ("kemdy20", "temp"), ("kemdy20", "ibi"),
    ("kemdy19", "eda"), ("kemdy19", "temp"), ("kemdy19", "ecg"),
]
T0, T1, T2 = stamps([0.0, 0.25, 0.5])  # 2020-0821-1128-57-250, -57-500, -57-750


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pulse_ecg(
    rate_hz: float, duration_s: float, rr_s: float = 0.8, level: float = 512.0
) -> tuple[np.ndarray, np.ndarray]:
    """Elapsed seconds (R,) and a constant-level ECG (R,) with one narrow R pulse every ``rr_s``."""
    time_s = np.arange(0.0, duration_s, 1.0 / rate_hz)
    ecg = np.full(time_s.shape, level)
    for beat in np.arange(0.3, duration_s, rr_s):
        ecg += 300.0 * np.exp(-0.5 * ((time_s - beat) / 0.008) ** 2)
    return time_s, ecg


# --------------------------------------------------------------------------- the API surface


def test_feature_names_and_signals_order() -> None:
    assert SIGNALS == ("eda", "temp", "heart")
    assert FEATURE_NAMES == (
        "eda_level", "eda_level_rel", "eda_spread", "eda_slope", "eda_scr_rate", "eda_scr_amplitude",
        "temp_level", "temp_level_rel", "temp_slope", "hr_mean", "hr_mean_rel", "hr_sdnn", "hr_rmssd",
    )


def test_settings_are_json_serialisable() -> None:
    assert json.loads(json.dumps(dataclasses.asdict(BioSettings())))["min_beats"] == 2


# --------------------------------------------------------------------------- parsing by position


def test_kemdy20_eda_header_ragged_rows_and_segments(tmp_path: Path) -> None:
    text = (
        "1598012937.250000\n4.000000\n"
        f"0.500000,{stamps([0.0])[0]}\n"
        f"0.600000,{stamps([0.25])[0]},Sess01_script01_User001F_001\n"
        f"0.700000,{stamps([0.5])[0]},Sess01_script01_User001F_001\n"
        f"0.800000,{stamps([0.75])[0]}\n"
    )
    table = read_signal_file(write(tmp_path / "e.csv", text), kind="eda", layout="kemdy20")
    np.testing.assert_allclose(table.value, [0.5, 0.6, 0.7, 0.8])
    np.testing.assert_allclose(table.time_s, [0.0, 0.25, 0.5, 0.75])
    assert list(table.segment) == ["", "Sess01_script01_User001F_001", "Sess01_script01_User001F_001", ""]
    assert table.kind == "eda" and table.value.dtype == np.float64


def test_timestamp_with_three_digit_milliseconds(tmp_path: Path) -> None:
    text = "h\n4\n1.0,2020-0821-1128-57-250\n1.0,2020-0821-1128-57-255\n1.0,2020-0821-1128-58-005\n"
    table = read_signal_file(write(tmp_path / "t.csv", text), kind="temp", layout="kemdy20")
    np.testing.assert_allclose(table.time_s, [0.0, 0.005, 0.755])


def test_kemdy20_ibi_uses_column_1_and_the_timestamp(tmp_path: Path) -> None:
    offsets = np.array([10.0, 10.8, 11.7])
    text = "1598012937.250000, IBI\n" + "".join(
        f"{t:.6f},{ibi:.6f},{s}{',Sess01_script01_User001F_002' if i else ''}\n"
        for i, (t, ibi, s) in enumerate(zip(offsets, [0.78, 0.8, 0.9], stamps(offsets - 10.0)))
    )
    table = read_signal_file(write(tmp_path / "ibi.csv", text), kind="ibi", layout="kemdy20")
    np.testing.assert_allclose(table.value, [0.78, 0.8, 0.9])
    np.testing.assert_allclose(table.time_s, [0.0, 0.8, 1.7])
    assert list(table.segment) == ["", "Sess01_script01_User001F_002", "Sess01_script01_User001F_002"]


def test_kemdy19_ecg_column_0_is_time_column_1_is_signal(tmp_path: Path) -> None:
    time_s = np.array([100.0, 100.004, 100.008])
    labels = ["", "Sess01_script01_F001", "Sess01_script01_M001"]
    text = kemdy19_ecg_text(time_s, np.array([512.0, 530.0, 498.0]), labels)
    table = read_signal_file(write(tmp_path / "Sess01F.csv", text), kind="ecg", layout="kemdy19")
    np.testing.assert_allclose(table.time_s, time_s)
    np.testing.assert_allclose(table.value, [512.0, 530.0, 498.0])
    assert list(table.segment) == ["", "Sess01_script01_F001", "Sess01_script01_M001"]


def test_kemdy19_eda_skips_text_header_lines_and_ignores_column_1(tmp_path: Path) -> None:
    body = kemdy19_e4_text(np.array([1.5, 1.6]), np.array([0.0, 0.25]), ["Sess01_impro01_F001", ""])
    text = "EDA,unknown,time,segment\nrecorded by E4\n" + body.replace(",0,", ",99,")
    table = read_signal_file(write(tmp_path / "Sess01F.csv", text), kind="eda", layout="kemdy19")
    np.testing.assert_allclose(table.value, [1.5, 1.6])
    assert list(table.segment) == ["Sess01_impro01_F001", ""]


def test_byte_order_mark_does_not_hide_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "Sess01F.csv"
    path.write_bytes(("\ufeff" + f"0.5,0,{T0}\n0.6,0,{T1}\n").encode("utf-8"))
    np.testing.assert_allclose(read_signal_file(path, kind="eda", layout="kemdy19").value, [0.5, 0.6])


def test_crlf_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    text = f"h\r\n4\r\n1.0,{stamps([0])[0]}\r\n\r\n2.0,{stamps([0.25])[0]}\r\n"
    table = read_signal_file(write(tmp_path / "t.csv", text), kind="temp", layout="kemdy20")
    np.testing.assert_allclose(table.value, [1.0, 2.0])


def test_sess42_rows_map_to_the_session_of_the_file(tmp_path: Path) -> None:
    offsets = np.arange(8) * 0.25
    labels = ["Sess42_script03_User084F_005"] * 4 + [""] * 4
    text = kemdy20_e4_text(33.0 + offsets, offsets, labels)
    path = write(tmp_path / "TEMP/Session17/Sess17_script03_User084F.csv", text)
    table = read_signal_file(path, kind="temp", layout="kemdy20", session="Sess17")
    assert set(table.segment) == {"Sess17_script03_User084F_005", ""}
    source = BioSources(None, path, None, None, "kemdy20", "Sess17")
    stats, mask, problems = segment_features(["Sess17_script03_User084F_005"], [source], SETTINGS)
    assert problems == [] and mask[0].tolist() == [False, True, False]
    assert stats[0, COLUMN["temp_level"]] == pytest.approx(33.375)


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("layout", "kind", "text", "expected"),
    [
        ("kemdy20", "eda", "", "no data rows"),
        ("kemdy20", "eda", "1598012937.250000\n4.000000\n", "no data rows"),
        ("kemdy20", "ibi", "1598012937.250000, IBI\n\n", "no data rows"),
        ("kemdy19", "ecg", "", "no data rows"),
        ("kemdy20", "eda", f"h\n4\n0.5,{T0}\nabc,{T1}\nx,{T2}\n", "2 non-numeric.*first at line 4"),
        ("kemdy20", "temp", f"h\n4\n33.1,{T0}\nnan,{T1}\n", "1 non-numeric.*line 4"),
        ("kemdy20", "temp", f"h\n4\n33.1,{T0}\n\n \n33.2,{T1}\n,{T2}\n", "1 non-numeric.*line 7"),
        ("kemdy19", "eda", f"0.5,0,{T0}\ninf,0,{T1}\n", "non-finite.*line 2"),
        ("kemdy20", "eda", f"h\n4\n0.5,{T1}\n0.6,{T0}\n", "backwards.*line 4"),
        ("kemdy19", "ecg", f"0.008,500,{T0}\n0.004,501,{T0}\n", "backwards.*line 2"),
        ("kemdy20", "eda", "h\n4\n0.5,20200821\n", "timestamp.*line 3"),
        ("kemdy20", "eda", "h\n4\n0.5\n", "timestamp.*line 3"),
        ("kemdy20", "eda", f"h\n4\n0.5,{T0}\n0.5,{T1},S,extra\n", "more than 3 fields, first at line 4"),
        ("kemdy19", "temp", f"1,0,{T0}\n1,0,{T1},S,x,y\n", "line 2 has 6 fields"),
    ],
)
def test_bad_files_raise_bio_format_error_naming_the_file(
    tmp_path: Path, layout: str, kind: str, text: str, expected: str
) -> None:
    path = write(tmp_path / f"bad_{kind}.csv", text)
    with pytest.raises(BioFormatError, match=expected) as caught:
        read_signal_file(path, kind=kind, layout=layout)
    assert str(path) in str(caught.value)


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no bio file kind"):
        read_signal_file(write(tmp_path / "x.csv", "1\n"), kind="ecg", layout="kemdy20")


# --------------------------------------------------------------------------- statistics


def test_ibi_statistics_golden_values() -> None:
    stats = heart_statistics_from_ibi(np.array([0.8, 0.9, 0.7, 0.8]), SETTINGS)
    assert stats["hr_mean"] == pytest.approx((75.0 + 60 / 0.9 + 60 / 0.7 + 75.0) / 4)  # 75.595 bpm
    assert stats["sdnn"] == pytest.approx(1000 * np.sqrt(0.02 / 3))  # 81.650 ms
    assert stats["rmssd"] == pytest.approx(1000 * np.sqrt(0.02))  # 141.421 ms


def test_ibi_statistics_drop_artefacts_and_need_min_beats() -> None:
    with_artefacts = np.array([0.8, 5.0, 0.8, 0.1, 0.8])
    assert heart_statistics_from_ibi(with_artefacts, SETTINGS)["sdnn"] == pytest.approx(0.0)
    assert np.isnan(heart_statistics_from_ibi(np.array([0.8]), SETTINGS)["hr_mean"])
    assert heart_statistics_from_ibi(np.array([0.8, 0.8]), SETTINGS)["hr_mean"] == pytest.approx(75.0)


def test_eda_level_spread_slope_golden_values() -> None:
    time_s = np.arange(8) * 0.25
    value = 2.0 + 0.1 * time_s  # monotonic: no response
    stats = eda_statistics(time_s, value, SETTINGS)
    assert stats["level"] == pytest.approx(2.0875)
    assert stats["spread"] == pytest.approx(0.1 * np.std(time_s))
    assert stats["slope"] == pytest.approx(0.1)
    assert stats["scr_rate"] == 0.0 and stats["scr_amplitude"] == 0.0


def test_too_few_rows_make_eda_and_temp_missing() -> None:
    one = np.array([0.0]), np.array([1.0])
    assert all(np.isnan(v) for v in eda_statistics(*one, SETTINGS).values())
    assert all(np.isnan(v) for v in temp_statistics(*one, SETTINGS).values())


def test_temp_statistics_golden_values() -> None:
    stats = temp_statistics(np.array([0.0, 0.25, 0.5]), np.array([33.0, 33.1, 33.2]), SETTINGS)
    assert stats["level"] == pytest.approx(33.1) and stats["slope"] == pytest.approx(0.4)


def scr_trace(
    amplitudes: list[float], onsets: list[float], duration_s: float = 60.0
) -> tuple[np.ndarray, np.ndarray]:
    """4 Hz EDA (R,) with responses (1.5 s rise, 4 s decay) of the given amplitudes and onsets."""
    time_s = np.arange(0.0, duration_s, 0.25)
    eda = np.full(time_s.shape, 3.0)
    for amplitude, onset in zip(amplitudes, onsets):
        after = time_s - onset
        shape = np.clip(after / 1.5, 0, 1) * np.exp(-np.clip(after - 1.5, 0, None) / 4.0)
        eda += amplitude * shape * (after >= 0)
    return time_s, eda + np.random.default_rng(3).normal(0.0, 0.002, time_s.shape)


def test_scr_count_on_three_known_responses() -> None:
    time_s, eda = scr_trace([0.1, 0.2, 0.05, 0.008], [10.0, 30.0, 45.0, 52.0])  # the last is too small
    stats = eda_statistics(time_s, eda, SETTINGS)
    assert len(scr_amplitudes(eda, SETTINGS)) == 3
    assert stats["scr_rate"] == pytest.approx(3 / 60.0)
    assert stats["scr_amplitude"] == pytest.approx((0.1 + 0.2 + 0.05) / 3, rel=0.15)


@pytest.mark.parametrize("rate_hz", [128.0, 250.0, 256.0])
def test_heart_rate_from_a_pulse_train_ecg(rate_hz: float) -> None:
    time_s, ecg = pulse_ecg(rate_hz, 30.0)
    assert heart_statistics_from_ecg(time_s, ecg, SETTINGS)["hr_mean"] == pytest.approx(75.0, abs=2.0)
    assert heart_statistics_from_ecg(time_s, -ecg, SETTINGS)["hr_mean"] == pytest.approx(75.0, abs=2.0)


def test_heart_rate_from_a_noisy_ecg_with_t_waves_and_wander() -> None:
    rng = np.random.default_rng(1)
    time_s = np.arange(0.0, 60.0, 1 / 256)
    beats = np.cumsum(rng.normal(0.8, 0.03, size=80))
    ecg = 0.5 * np.sin(2 * np.pi * 0.3 * time_s) + rng.normal(0, 0.03, time_s.shape)
    for beat in beats[beats < 60]:
        ecg += np.exp(-0.5 * ((time_s - beat) / 0.01) ** 2)  # R
        ecg += 0.3 * np.exp(-0.5 * ((time_s - beat - 0.25) / 0.04) ** 2)  # T
    peaks = detect_r_peaks(time_s, ecg, SETTINGS)
    inside = beats[(beats > 0.5) & (beats < 59.5)]
    assert abs(len(peaks) - len(inside)) <= 1
    expected = np.mean(60.0 / np.diff(inside))
    assert heart_statistics_from_ecg(time_s, ecg, SETTINGS)["hr_mean"] == pytest.approx(expected, abs=2.0)


def test_ecg_time_column_is_never_the_signal(tmp_path: Path) -> None:
    time_s, ecg = pulse_ecg(128.0, 20.0)
    labels = label_rows(time_s, [("Sess01_script01_F001", 2.0, 18.0)])
    text = kemdy19_ecg_text(time_s + 500.0, ecg, labels)
    path = write(tmp_path / "ECG/Session01/Original/Sess01F.csv", text)
    source = BioSources(None, None, path, "ecg", "kemdy19", "Sess01")
    stats, mask, problems = segment_features(["Sess01_script01_F001"], [source], SETTINGS)
    assert problems == [] and mask[0].tolist() == [False, False, True]
    assert stats[0, COLUMN["hr_mean"]] == pytest.approx(75.0, abs=2.0)
    # The time column itself holds no beats: averaging it as "ECG" would be meaningless.
    assert np.isnan(heart_statistics_from_ecg(time_s, time_s, SETTINGS)["hr_mean"])


def test_short_or_implausible_ecg_gives_no_peaks() -> None:
    assert detect_r_peaks(np.arange(5) / 128, np.ones(5), SETTINGS).size == 0
    assert detect_r_peaks(np.arange(50) * 1.0, np.ones(50), SETTINGS).size == 0  # 1 Hz: time in wrong unit


# --------------------------------------------------------------------------- segment_features


def e4_recording(
    tmp_path: Path, session: str = "Sess01", stem: str = "Sess01_script01_User001F"
) -> tuple[BioSources, dict]:
    """KEMDy20 EDA/TEMP/IBI files for one speaker with segments _001 (2-5 s) and _002 (8-12 s)."""
    time_s = np.arange(0.0, 16.0, 0.25)
    windows = [(f"{stem}_001", 2.0, 5.0), (f"{stem}_002", 8.0, 12.0)]
    labels = label_rows(time_s, windows)
    eda = 1.0 + 0.05 * time_s + 0.01 * np.sin(time_s)
    temp = 32.0 + 0.01 * time_s
    beat_time = np.cumsum(np.tile([0.8, 0.85, 0.75, 0.9], 5))
    ibi = np.diff(np.concatenate([[0.0], beat_time]))
    folder = f"Session{session[4:]}"
    paths = [
        write(tmp_path / "EDA" / folder / f"{stem}.csv", kemdy20_e4_text(eda, time_s, labels)),
        write(tmp_path / "TEMP" / folder / f"{stem}.csv", kemdy20_e4_text(temp, time_s, labels)),
        write(
            tmp_path / "IBI" / folder / f"{stem}.csv",
            kemdy20_ibi_text(beat_time, ibi, label_rows(beat_time, windows)),
        ),
    ]
    raw = {"labels": np.array(labels), "eda": eda, "temp": temp, "beat_time": beat_time, "ibi": ibi}
    return BioSources(*paths, heart_kind="ibi", layout="kemdy20", session=session), raw


def test_rel_features_are_segment_minus_file_median(tmp_path: Path) -> None:
    source, raw = e4_recording(tmp_path)
    ids = ["Sess01_script01_User001F_001", "Sess01_script01_User001F_002"]
    stats, mask, problems = segment_features(ids, [source, source], SETTINGS)
    assert problems == [] and mask.all()
    for row, segment_id in enumerate(ids):
        rows = raw["labels"] == segment_id
        assert stats[row, COLUMN["eda_level"]] == pytest.approx(raw["eda"][rows].mean(), rel=1e-6)
        for signal, tolerance in (("eda", 1e-5), ("temp", 1e-4)):
            expected = raw[signal][rows].mean() - np.median(raw[signal])
            assert stats[row, COLUMN[f"{signal}_level_rel"]] == pytest.approx(expected, abs=tolerance)
    beat_labels = np.array(label_rows(raw["beat_time"], [(ids[0], 2.0, 5.0), (ids[1], 8.0, 12.0)]))
    for row, segment_id in enumerate(ids):
        hr = 60.0 / raw["ibi"][beat_labels == segment_id]
        assert stats[row, COLUMN["hr_mean"]] == pytest.approx(hr.mean(), rel=1e-5)
        expected = hr.mean() - np.median(60.0 / raw["ibi"])
        assert stats[row, COLUMN["hr_mean_rel"]] == pytest.approx(expected, abs=1e-3)
    assert stats.dtype == np.float32 and stats.shape == (2, len(FEATURE_NAMES))


def test_unusable_files_are_listed_once_and_their_segments_are_missing(tmp_path: Path) -> None:
    good, _ = e4_recording(tmp_path)
    empty = write(tmp_path / "EDA/Session02/Sess02_script01_User003F.csv", "")
    bad_temp = write(tmp_path / "TEMP/Session02/Sess02_script01_User003F.csv", f"h\n4\n33,{T0}\nx,{T1}\n")
    absent = tmp_path / "IBI/Session02/Sess02_script01_User003F.csv"
    broken = BioSources(empty, bad_temp, absent, "ibi", "kemdy20", "Sess02")
    ids = [
        "Sess01_script01_User001F_001",
        "Sess02_script01_User003F_001",
        "Sess02_script01_User003F_002",
        "Sess01_script01_User001F_002",
    ]
    stats, mask, problems = segment_features(ids, [good, broken, broken, good], SETTINGS)
    assert sorted(p for p, _ in problems) == sorted(str(p) for p in (empty, bad_temp, absent))
    reasons = dict(problems)
    assert reasons[str(empty)] == "no data rows"
    assert "non-numeric" in reasons[str(bad_temp)] and "line 4" in reasons[str(bad_temp)]
    assert "cannot read" in reasons[str(absent)]
    assert mask.tolist() == [[True] * 3, [False] * 3, [False] * 3, [True] * 3]
    assert np.isnan(stats[1:3]).all() and np.isfinite(stats[[0, 3]]).all()


def test_segment_without_rows_in_a_usable_file_is_missing(tmp_path: Path) -> None:
    source, _ = e4_recording(tmp_path)
    stats, mask, problems = segment_features(["Sess01_script01_User001F_099"], [source], SETTINGS)
    assert problems == [] and not mask.any() and np.isnan(stats).all()


def test_kemdy19_file_with_both_actors_selects_by_id(tmp_path: Path) -> None:
    time_s = np.arange(0.0, 10.0, 0.25)
    windows = [
        ("Sess01_script01_F001", 1.0, 3.0),
        ("Sess01_script01_M001", 4.0, 6.0),
        ("Sess01_script01_F002", 7.0, 9.0),
    ]
    labels = label_rows(time_s, windows)
    eda = np.where(np.array(labels) == "Sess01_script01_M001", 9.0, 2.0)
    path = write(tmp_path / "EDA/Session01/Original/Sess01F.csv", kemdy19_e4_text(eda, time_s, labels))
    source = BioSources(path, None, None, None, "kemdy19", "Sess01")
    own = ["Sess01_script01_F001", "Sess01_script01_F002"]
    stats, mask, _ = segment_features(own, [source, source], SETTINGS)
    assert mask[:, 0].all()
    np.testing.assert_allclose(stats[:, COLUMN["eda_level"]], [2.0, 2.0])


def test_each_file_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, sources = make_synthetic_bio_files(tmp_path, n_files=2, segments_per_file=20, seed=0)
    calls: list[Path] = []
    real = bio.read_signal_file

    def counting(path: Path, **kwargs: object) -> SignalTable:
        calls.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(bio, "read_signal_file", counting)
    stats, mask, problems = segment_features(ids, sources, SETTINGS)
    assert len(calls) == len(set(calls)) == 6
    assert problems == [] and mask[:, :2].all() and mask[:, 2].mean() > 0.5


def test_synthetic_set_yields_plausible_statistics(tmp_path: Path) -> None:
    ids, sources = make_synthetic_bio_files(tmp_path, n_files=2, segments_per_file=30, seed=4)
    stats, mask, _ = segment_features(ids, sources, SETTINGS)
    hr = stats[mask[:, 2], COLUMN["hr_mean"]]
    assert np.all((hr > 40) & (hr < 160))
    assert np.all(stats[:, COLUMN["eda_scr_rate"]] >= 0)


# --------------------------------------------------------------------------- prediction path


def read_tables(source: BioSources) -> tuple[SignalTable, SignalTable, SignalTable]:
    """Parse the three files of a KEMDy20 source."""
    kw = {"layout": source.layout, "session": source.session}
    return (
        read_signal_file(source.eda, kind="eda", **kw),
        read_signal_file(source.temp, kind="temp", **kw),
        read_signal_file(source.heart, kind="ibi", **kw),
    )


def keep_only(table: SignalTable, segment_id: str) -> SignalTable:
    """The table with every segment label other than ``segment_id`` blanked."""
    kept = np.where(table.segment == segment_id, segment_id, "").astype(object)
    return dataclasses.replace(table, segment=kept)


def test_features_for_recording_agrees_with_segment_features(tmp_path: Path) -> None:
    """On the unmodified files (every segment's rows present), a chosen segment gets its training row."""
    source, _ = e4_recording(tmp_path)
    segment_id = "Sess01_script01_User001F_002"
    expected, expected_mask, _ = segment_features([segment_id], [source], SETTINGS)
    tables = read_tables(source)
    assert len({s for s in tables[0].segment if s}) > 1
    got, got_mask = features_for_recording(*tables, SETTINGS, BioWindow(segment=segment_id))
    assert got.shape == (len(FEATURE_NAMES),) and got_mask.tolist() == expected_mask[0].tolist() == [True] * 3
    np.testing.assert_array_equal(got, expected[0])
    # The old pooling of every labelled row is refused, not silently computed.
    with pytest.raises(BioSelectionError, match="holds 2 segments"):
        features_for_recording(*tables, SETTINGS)


def test_time_window_selects_the_rows_in_it(tmp_path: Path) -> None:
    source, _ = e4_recording(tmp_path)
    segment_id = "Sess01_script01_User001F_002"
    eda = read_signal_file(source.eda, kind="eda", layout="kemdy20")
    times = eda.time_s[eda.segment == segment_id]
    by_id, _ = features_for_recording(eda, None, None, SETTINGS, BioWindow(segment=segment_id))
    by_time, _ = features_for_recording(eda, None, None, SETTINGS, BioWindow(start_s=times[0], end_s=times[-1] + 1e-6))
    np.testing.assert_array_equal(by_id, by_time)
    with pytest.raises(BioSelectionError, match="not both"):
        BioWindow(segment=segment_id, start_s=0.0)


def test_a_single_segment_file_uses_that_segments_rows(tmp_path: Path) -> None:
    source, _ = e4_recording(tmp_path)
    segment_id = "Sess01_script01_User001F_002"
    eda = keep_only(read_signal_file(source.eda, kind="eda", layout="kemdy20"), segment_id)
    expected, _ = features_for_recording(eda, None, None, SETTINGS, BioWindow(segment=segment_id))
    got, _ = features_for_recording(eda, None, None, SETTINGS)
    np.testing.assert_array_equal(got, expected)


def test_features_for_recording_agrees_on_a_kemdy19_ecg(tmp_path: Path) -> None:
    time_s, ecg = pulse_ecg(250.0, 30.0)
    windows = [("Sess02_impro01_F001", 3.0, 9.0), ("Sess02_impro01_M001", 12.0, 20.0)]
    path = write(tmp_path / "Sess02F.csv", kemdy19_ecg_text(time_s, ecg, label_rows(time_s, windows)))
    source = BioSources(None, None, path, "ecg", "kemdy19", "Sess02")
    expected, _, _ = segment_features(["Sess02_impro01_F001"], [source], SETTINGS)
    table = read_signal_file(path, kind="ecg", layout="kemdy19")
    got, mask = features_for_recording(None, None, table, SETTINGS, BioWindow(segment="Sess02_impro01_F001"))
    assert mask.tolist() == [False, False, True]
    np.testing.assert_allclose(got, expected[0], rtol=1e-6, equal_nan=True)
    assert got[COLUMN["hr_mean"]] == pytest.approx(75.0, abs=2.0)


def test_features_for_recording_without_ids_uses_all_rows(tmp_path: Path) -> None:
    source, raw = e4_recording(tmp_path)
    eda, _, heart = (keep_only(t, "") for t in read_tables(source))  # no row keeps an ID
    got, mask = features_for_recording(eda, None, heart, SETTINGS)
    assert mask.tolist() == [True, False, True] and np.isnan(got[6:9]).all()
    assert got[COLUMN["eda_level"]] == pytest.approx(raw["eda"].mean(), rel=1e-6)
    assert got[COLUMN["eda_level_rel"]] == pytest.approx(raw["eda"].mean() - np.median(raw["eda"]), abs=1e-5)


# --------------------------------------------------------------------------- fuzzing

_FIELD = st.one_of(
    st.sampled_from(["0.5", "1e3", "-2", "nan", "inf", "", " ", "x", "IBI", "1598012937.250000", "4.000000"]),
    st.sampled_from([T0, "2020-0821-1128-58-000", "2019-1231-2359-59-999", "2020-1321-0000-00-000"]),
    st.sampled_from(["Sess01_script01_User001F_001", "Sess42_script01_User084F_002", "Sess01_impro01_M001"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
_LINE = st.one_of(st.lists(_FIELD, min_size=1, max_size=6).map(",".join), st.text(max_size=40))


def assert_valid_or_format_error(path: Path, layout: str, kind: str) -> None:
    """read_signal_file either returns a consistent finite table or raises BioFormatError."""
    try:
        table = read_signal_file(path, kind=kind, layout=layout, session="Sess17")
    except BioFormatError:
        return
    n = len(table.value)
    assert n > 0 and len(table.time_s) == n and len(table.segment) == n
    assert np.all(np.isfinite(table.value)) and np.all(np.isfinite(table.time_s))
    assert np.all(np.diff(table.time_s) >= 0)
    assert all(isinstance(s, str) for s in table.segment)


_FUZZ = hyp_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(kind=st.sampled_from(FILE_KINDS), lines=st.lists(_LINE, max_size=12))
def test_fuzz_structured_lines(tmp_path: Path, kind: tuple[str, str], lines: list[str]) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    assert_valid_or_format_error(path, *kind)


@_FUZZ
@given(kind=st.sampled_from(FILE_KINDS), data=st.binary(max_size=300))
def test_fuzz_raw_bytes(tmp_path: Path, kind: tuple[str, str], data: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    assert_valid_or_format_error(path, *kind)


@_FUZZ
@given(
    kind=st.sampled_from(FILE_KINDS),
    n=st.integers(1, 12),
    drop=st.sets(st.integers(0, 11)),
    swap=st.booleans(),
)
def test_fuzz_nearly_valid_files(
    tmp_path: Path, kind: tuple[str, str], n: int, drop: set[int], swap: bool
) -> None:
    """Valid files with lines dropped (headers, rows) or the last two rows swapped."""
    time_s = np.arange(n) * 0.25
    labels = label_rows(time_s, [("Sess42_script01_User084F_001", 0.5, 1.5)])
    writer = {"eda": kemdy19_e4_text, "temp": kemdy19_e4_text, "ecg": kemdy19_ecg_text}
    if kind == ("kemdy20", "ibi"):
        text = kemdy20_ibi_text(time_s, time_s + 0.5, labels)
    elif kind[0] == "kemdy20":
        text = kemdy20_e4_text(time_s, time_s, labels)
    else:
        text = writer[kind[1]](time_s, time_s, labels)
    lines = [line for i, line in enumerate(text.splitlines()) if i not in drop]
    if swap and len(lines) > 3:
        lines[-1], lines[-2] = lines[-2], lines[-1]
    path = tmp_path / "fuzz.csv"
    path.write_text("\n".join(lines))
    assert_valid_or_format_error(path, *kind)
