"""Transcribe stage: window hygiene, coverage re-decode and hallucination filters.

Pure functions are tested on hand-made spans and texts; the crash and the re-decode
are tested with the real model on a fixture recording.
"""

from types import SimpleNamespace

import pytest
from conftest import FIXTURES

from pipeline.scan import decode, transcribe, vad
from pipeline.scan.transcribe import TranscribeOptions
from pipeline.scan.vad import SpeechSegment


@pytest.fixture(scope="module")
def model():
    return transcribe.load_model(cpu_threads=1)


def test_clean_spans_clips_merges_and_drops_empty():
    spans = [SpeechSegment(0.0, 2.0, 0), SpeechSegment(1.5, 3.0, 0), SpeechSegment(2.9996, 3.5, 0),
             SpeechSegment(-0.1, 1.0, 1), SpeechSegment(1.0, 2.0, 1), SpeechSegment(3.2, 3.4, 1)]
    cleaned = transcribe.clean_spans(spans, duration_s=2.9996)
    assert [(s.start, s.end, s.channel) for s in cleaned] == [(0.0, 2.999, 0), (0.0, 1.0, 1), (1.0, 2.0, 1)]


def test_vad_pieces_of_continuous_speech_stay_within_a_window():
    """The VAD cuts continuous speech into touching pieces of <= 25 s; merged again they exceeded 30 s."""
    pieces = [SpeechSegment(0.0, 22.0, 0), SpeechSegment(22.0, 44.0, 0), SpeechSegment(44.0, 60.0, 0)]
    windows = transcribe.pack_windows(transcribe.clean_spans(pieces, 60.0))
    assert max(w.end - w.start for w in windows) <= 30.0


def test_windows_are_filled_by_cutting_at_a_pause():
    """Touching VAD pieces of 22 s made 22 s windows; the next piece is cut at its quietest point instead."""
    import numpy as np
    from conftest import SR, voiced
    samples = voiced(60.0)[None, :].copy()
    samples[0, int(27.0 * SR):int(27.3 * SR)] = 0.0           # a pause 3 s before the window is full
    pieces = [SpeechSegment(0.0, 22.0, 0), SpeechSegment(22.0, 44.0, 0), SpeechSegment(44.0, 60.0, 0)]
    windows = transcribe.pack_windows(pieces, 30.0, transcribe.quietest_point(samples, SR), fill_search_s=6.0)
    assert 27.0 <= windows[0].end <= 27.3 and windows[1].start == windows[0].end
    assert windows[-1].end == 60.0 and len(windows) == 3
    assert all(w.end - w.start <= 30.0 for w in windows)
    assert np.all(np.diff([w.start for w in windows]) > 0)
    unfilled = transcribe.pack_windows(pieces, 30.0)
    assert [(w.start, w.end) for w in unfilled] == [(0.0, 22.0), (22.0, 44.0), (44.0, 60.0)]


def test_windows_are_not_cut_into_slivers():
    """A piece is only cut when both parts keep `min_piece_s`; another channel's window is never extended."""
    import numpy as np
    samples = np.ones((2, 40 * 16000), dtype=np.float32)
    quietest = transcribe.quietest_point(samples, 16000)
    pieces = [SpeechSegment(0.0, 29.0, 0), SpeechSegment(29.0, 35.0, 0), SpeechSegment(0.0, 10.0, 1)]
    windows = transcribe.pack_windows(pieces, 30.0, quietest, fill_search_s=6.0, min_piece_s=2.0)
    assert [(w.start, w.end, w.channel) for w in windows] == [(0.0, 29.0, 0), (29.0, 35.0, 0), (0.0, 10.0, 1)]


def test_beam_windows_are_the_doubtful_greedy_ones():
    options = TranscribeOptions(first_pass_beam=1, beam_size=5, beam_below_logprob=-0.5)
    decoded = [transcribe.WindowText(SpeechSegment(0.0, 20.0, 0), [{"text": "好"}], -0.3),
               transcribe.WindowText(SpeechSegment(20.0, 40.0, 0), [{"text": "神经"}], -0.8),
               transcribe.WindowText(SpeechSegment(40.0, 50.0, 0), [], None)]   # no text: left to the holes
    assert transcribe.beam_windows(decoded, options) == [SpeechSegment(20.0, 40.0, 0)]
    assert transcribe.beam_windows(decoded, TranscribeOptions(first_pass_beam=5)) == []


def test_uncovered_reports_only_long_holes():
    speech = [SpeechSegment(0.0, 10.0, 0), SpeechSegment(0.0, 4.0, 1)]
    segments = [{"start": 0.2, "end": 3.0, "channel": 0}, {"start": 3.5, "end": 5.0, "channel": 0},
                {"start": 0.0, "end": 3.5, "channel": 1}]
    holes = transcribe.uncovered(speech, segments, min_s=1.0)
    assert [(h.start, h.end, h.channel) for h in holes] == [(5.0, 10.0, 0)]


def piece(no_speech_prob=0.1, avg_logprob=-0.3, word_spans=((0.0, 0.4),)):
    words = [SimpleNamespace(start=start, end=end) for start, end in word_spans]
    return SimpleNamespace(no_speech_prob=no_speech_prob, avg_logprob=avg_logprob, words=words)


@pytest.mark.parametrize("text, confidence, reason", [
    ("中文字幕制作人", piece(), "subtitle_credit"),
    ("字幕由Amara.org社区提供", piece(), "subtitle_credit"),
    ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", piece(), "subtitle_credit"),
    ("谢谢观看", piece(), "subtitle_credit"),
    ("好的好的好的好的好的好的", piece(), "repetition"),
    ("嗯", piece(no_speech_prob=0.9, avg_logprob=-1.5), "no_speech"),
    ("您订阅的套餐本月到期,需要帮您转发短信吗?", piece(), None),
    ("投资100000元,风险自担", piece(), None),
    ("喂喂喂,听得到吗?对对对对", piece(), None),
    ("本电话为营销电话", piece(no_speech_prob=0.9, avg_logprob=-0.4), None),
    ("您好,省建化了营销电话", piece(word_spans=((0.0, 0.18), (0.18, 22.8), (22.98, 22.98))), "stretched"),
    ("喂,您好", piece(word_spans=((0.0, 1.5), (1.5, 2.0))), None),
])
def test_hallucination(text, confidence, reason):
    assert transcribe.hallucination(confidence, text, TranscribeOptions()) == reason


def test_speech_up_to_the_last_sample_is_transcribed(model):
    """A VAD end rounded past the last sample made faster-whisper assert (real recordings crashed)."""
    audio = decode.decode(str(FIXTURES / "finance_marketing_complete.wav"))
    n = 3 * audio.sample_rate - 7                     # 2.99956 s: its end rounds up to 3.0
    samples = audio.samples[:, :n]
    result = transcribe.transcribe(model, samples, audio.sample_rate, [SpeechSegment(0.0, 3.0, 0)])
    assert result.segments and result.unrecognised_speech == []


def test_window_ended_early_is_decoded_again(model, monkeypatch):
    """Whisper ending a packed window after its first sentence must not lose the rest."""
    audio = decode.decode(str(FIXTURES / "finance_marketing_complete.wav"))
    speech = vad.detect_speech(audio.samples, audio.sample_rate)
    real = transcribe._decode_windows
    calls = []

    def first_pass_stops_early(pipeline, samples, windows, options, beam_size):
        decoded = real(pipeline, samples, windows, options, beam_size)
        calls.append(len(windows))
        if len(calls) == 1:
            decoded[0].segments[1:] = []
            decoded[1:] = []
        return decoded

    monkeypatch.setattr(transcribe, "_decode_windows", first_pass_stops_early)
    result = transcribe.transcribe(model, audio.samples, audio.sample_rate, speech)
    assert len(calls) >= 2
    assert transcribe.uncovered(speech, result.segments, 1.0) == []
    assert result.unrecognised_speech == []
    assert len(result.segments) > 3


def test_speech_that_yields_nothing_is_reported(model):
    """Stationary noise that the VAD calls speech is listed as unrecognised, not silently dropped."""
    import numpy as np
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal((1, 8 * 16000))).astype(np.float32)
    speech = [SpeechSegment(1.0, 7.0, 0)]
    result = transcribe.transcribe(model, noise, 16000, speech)
    holes = [{**hole, "text": ""} for hole in result.unrecognised_speech]
    assert holes, result.segments
    assert transcribe.uncovered(speech, result.segments + holes, 1.0) == []


def test_doubtful_windows_get_the_full_beams_text(model, monkeypatch):
    """Windows under `beam_below_logprob` are decoded again with the full beam, whose text replaces the first pass's."""
    audio = decode.decode(str(FIXTURES / "finance_marketing_complete.wav"))
    speech = vad.detect_speech(audio.samples, audio.sample_rate)
    real, beams = transcribe._decode_windows, []

    def recording_beams(pipeline, samples, windows, options, beam_size):
        beams.append((beam_size, len(windows)))
        return real(pipeline, samples, windows, options, beam_size)

    monkeypatch.setattr(transcribe, "_decode_windows", recording_beams)
    everything_doubtful = TranscribeOptions(beam_below_logprob=0.0)
    twice = transcribe.transcribe(model, audio.samples, audio.sample_rate, speech, everything_doubtful)
    assert beams[:2] == [(2, beams[0][1]), (5, beams[0][1])]
    beams.clear()
    full_beam = transcribe.transcribe(model, audio.samples, audio.sample_rate, speech,
                                      TranscribeOptions(first_pass_beam=5))
    assert beams[0][0] == 5
    assert [s["text"] for s in twice.segments] == [s["text"] for s in full_beam.segments]
    beams.clear()
    transcribe.transcribe(model, audio.samples, audio.sample_rate, speech, TranscribeOptions(beam_size=1))
    assert {beam for beam, _ in beams} == {1}     # --beam-size 1: greedy everywhere, nothing decoded twice
