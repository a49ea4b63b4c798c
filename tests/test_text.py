"""Transcript decoding, tag stripping and Mecab tokenisation."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from preprocessing.text import MecabTokenizer, TranscriptError, clean_transcript, decode_transcript, read_transcript


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
