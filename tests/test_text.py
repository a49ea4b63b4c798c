"""Transcript decoding, tag stripping and Mecab tokenisation."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preprocessing.encodings import ENCODINGS
from preprocessing.features.text import (
    MecabTokenizer,
    TranscriptError,
    clean_transcript,
    count_control_characters,
    decode_transcript,
    read_transcript,
)


@pytest.mark.parametrize("raw,clean,tags", [
    ("n/ 아 친구들도? l/", "아 친구들도?", 2),
    ("b/ 선물이라 ...", "선물이라 ...", 1),
    ("(그래서)/(그래서) 뭐 했어?", "그래서 뭐 했어?", 0),
    ("(학교)/(핵교)에 갔어 * 진짜 + 좋았어 /", "학교 에 갔어 진짜 좋았어", 0),
    ("c/ N/ u/ o/", "", 4),
    ("평범한 문장", "평범한 문장", 0),
])
def test_clean_transcript(raw, clean, tags):
    assert clean_transcript(raw) == (clean, tags)


def test_decode_fallback_chain(tmp_path):
    text = "오늘 회사에서 진짜 화났어"
    assert decode_transcript(text.encode("utf-8")) == text
    assert decode_transcript(text.encode("cp949")) == text
    assert decode_transcript("\ufeff".encode("utf-8") + text.encode("utf-8")) == text
    path = tmp_path / "x.txt"
    path.write_bytes(text.encode("euc-kr") + b"\n")
    assert read_transcript(path) == text
    # cp949's extended syllables (not in euc-kr) must decode too.
    assert decode_transcript("똠방각하 똘똘".encode("cp949")) == "똠방각하 똘똘"


def test_every_encoding_in_the_chain_is_reachable():
    """An encoding tried after one that decodes all its files could never be used."""
    samples = ["오늘 회사에서 진짜 화났어", "똠방각하 똘똘", "햏 뷁", "안녕하세요 반갑습니다"]
    for k, encoding in enumerate(ENCODINGS[1:], start=1):
        reachable = []
        for sample in samples:
            try:
                data = sample.encode(encoding)
            except UnicodeEncodeError:
                continue
            earlier_fail = True
            for before in ENCODINGS[:k]:
                try:
                    data.decode(before)
                    earlier_fail = False
                except UnicodeDecodeError:
                    pass
            reachable.append(earlier_fail)
        assert any(reachable), f"{encoding} after {ENCODINGS[:k]} can never be reached"


def test_control_characters_are_removed_before_tokenising():
    text, _ = clean_transcript("좋\0은 영화\x07 b/ 최고\u200b")
    assert text == "좋은 영화 최고"
    assert count_control_characters("좋\0은 영화\x07 최고\u200b") == 3
    assert MecabTokenizer().tokenize(text)[:2] == ["좋", "은"]


def test_undecodable_transcript_names_the_file(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_bytes(b"\xff\xfe\xfa\x80\x81")
    with pytest.raises(TranscriptError, match="broken.txt"):
        read_transcript(path)


def test_mecab_tokenizer_pip_only():
    tokens = MecabTokenizer().tokenize("친구들도 선물이라 정말 기뻐요")
    assert tokens[:2] == ["친구", "들"]
    assert "선물" in tokens
    assert MecabTokenizer().tokenize("   ") == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("cnNulbo/()*+ 가나다라abc?.\t\n")), max_size=60))
def test_clean_transcript_never_fails_and_leaves_no_tags(raw):
    text, count = clean_transcript(raw)
    assert count >= 0
    assert "/" not in text and "*" not in text and "+" not in text
    assert text == text.strip() and "  " not in text
