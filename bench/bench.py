"""Benchmark: full callaudit scan vs bare faster-whisper vs the non-ASR stages, on one generated archive.

    python bench/bench.py [--quick] [--repeat N] [--ray] [--no-long] [--dense-only]

0. Speech-dense comparison (`dense_comparison`): calls made of the fixtures' speech
   with the pauses squeezed out (bench/out/dense/, truth kept); the default scan and
   bare faster-whisper (beam 5), runs alternating, on wall time, character error rate
   and statement-location recall.
1. Generates (deterministically, into bench/out/, cached) an archive of call audio
   from the committed fixtures: 2-3 calls per file joined by hold silences / low line
   noise of 5-60 s, in rotating archive codecs (G.711 mu/A-law, GSM, MP3, AAC, Opus,
   FLAC), >= 30 min in all (--quick: >= 8 min), and one ~60 min recording.
2. Measures, each in its own child process (peak RSS from os.wait4 = the largest
   single process; peak PSS of the whole process tree sampled every 0.2 s):
   - `python -m pipeline scan` with a fresh catalog, 1 worker x all cores threads and
     N workers x 1 thread (the local engine's split), optionally --engine ray;
   - bare faster-whisper: one WhisperModel (same folder, int8, beam 5, zh, all cores)
     and `model.transcribe(path)` on every file, sequentially;
   - the non-ASR stages: the same `Analyser.analyse_file` with the ASR stubbed by the
     transcript of the 1-worker scan (decode, VAD, quiet boost, matching, delivery,
     splice detection: everything but Whisper);
   - the re-check after a phrase-catalog edit: `python -m pipeline scan` into a copy of
     the default scan's output folder with a `--phrases` copy whose rules.yaml has one
     word of a comment changed (the stored transcripts are checked again, nothing is
     transcribed; target: under 10% of the default scan);
   - a scan of the ~60 min recording alone (memory bound of one long call).
Real-time factor = wall / audio duration. Timings on a shared machine are noisy:
--repeat N runs every timed step N times and reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIXTURES = ROOT / "fixtures" / "audio"
SR = 16_000
SEED = 20241128
# (extension, ffmpeg codec args, sample rate): what call-center archives hold.
CODECS = [
    ("wav", ["-c:a", "pcm_mulaw"], 8000),
    ("mp3", ["-c:a", "libmp3lame", "-b:a", "32k"], 16000),
    ("flac", ["-c:a", "flac"], 16000),
    ("ogg", ["-c:a", "libopus", "-b:a", "24k"], 16000),
    ("m4a", ["-c:a", "aac", "-b:a", "48k"], 16000),
    ("wav", ["-c:a", "libgsm_ms"], 8000),
    ("wav", ["-c:a", "pcm_alaw"], 8000),
]


# -- archive generation -----------------------------------------------------------------
def _load_fixture(path: Path, channels: int = 1) -> np.ndarray:
    """The fixture at 16 kHz: mono (mixed down) for channels=1, else (channels, n)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-ac", str(channels),
                          "-ar", str(SR), "pipe:"], capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, dtype=np.float32)
    return samples if channels == 1 else samples.reshape(-1, channels).T


def _gap(rng: np.random.Generator) -> np.ndarray:
    """5-60 s of hold silence: near-digital silence or low line noise (-65..-50 dBFS)."""
    n = int(rng.uniform(5, 60) * SR)
    level = 10 ** (rng.uniform(-65, -50) / 20) if rng.random() < 0.7 else 10 ** (-80 / 20)
    return (rng.standard_normal(n) * level).astype(np.float32)


def _encode(path: Path, samples: np.ndarray, codec: tuple) -> None:
    ext, args, rate = codec
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1",
                    "-i", "pipe:", "-ar", str(rate), *args, "-map_metadata", "-1", "-fflags", "+bitexact",
                    str(path)], input=np.clip(samples, -1, 1).tobytes(), check=True)


def _calls() -> list[tuple[str, np.ndarray]]:
    return [(p.stem, _load_fixture(p)) for p in sorted(FIXTURES.iterdir())
            if p.suffix != ".json" and not p.name.endswith(".truth.json")]


def make_archive(name: str, min_s: float, calls_per_file: tuple[int, int], single: bool = False) -> tuple[Path, float]:
    """Generate bench/out/<name>/ once (cached by manifest); return (folder, seconds of audio)."""
    folder = OUT / name
    manifest = folder / "manifest.json"
    params = {"seed": SEED, "min_s": min_s, "calls_per_file": calls_per_file, "single": single, "version": 1}
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved["params"] == json.loads(json.dumps(params)):
            return folder, saved["audio_s"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    calls = _calls()
    order: list[int] = []
    total, index, files = 0.0, 0, []
    while total < min_s:
        pieces = [_gap(rng)] if rng.random() < 0.5 else []
        count = 10**9 if single else int(rng.integers(calls_per_file[0], calls_per_file[1] + 1))
        length = sum(p.size for p in pieces) / SR
        for _ in range(count):
            if not order:
                order = list(rng.permutation(len(calls)))
            pieces += [calls[order.pop()][1], _gap(rng)]
            length += (pieces[-2].size + pieces[-1].size) / SR
            if single and total + length >= min_s:
                break
        samples = np.concatenate(pieces)
        codec = CODECS[index % len(CODECS)] if not single else CODECS[1]
        path = folder / f"call_{index:03d}.{codec[0]}"
        _encode(path, samples, codec)
        files.append(path.name)
        total += samples.size / SR
        index += 1
    manifest.write_text(json.dumps({"params": params, "audio_s": round(total, 1), "files": files}, indent=1))
    return folder, round(total, 1)


# -- speech-dense archive: the fixtures' speech with the pauses squeezed out ----------------
DENSE_SOURCES = (FIXTURES, ROOT / "fixtures" / "paraphrase")
DENSE_GAP_S = 0.15   # pause between utterances (plus 0.05 s kept on each side of an utterance)
DENSE_PAD_S = 0.05


def _speech_clips(truth_file: Path) -> list[tuple[np.ndarray, dict]]:
    """Each intelligible truth utterance of a fixture as (16 kHz mono samples, its truth entry).

    Each utterance is cut from its own channel; unintelligible ones are left out (the
    truth expects no text for them).
    """
    truth = json.loads(truth_file.read_text("utf-8"))
    audio = np.atleast_2d(_load_fixture(truth_file.parent / truth["file"], truth["channels"]))
    clips = []
    for utt in truth["utterances"]:
        if utt["delivery"] == "unintelligible":
            continue
        first = max(0, int((utt["start"] - DENSE_PAD_S) * SR))
        last = min(audio.shape[1], int((utt["end"] + DENSE_PAD_S) * SR))
        clips.append((audio[utt["channel"], first:last], utt))
    return clips


def _dense_call(sources: list[Path], rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One mono call from the utterances of `sources` (same call type and industry) and its truth."""
    pieces, utterances, cursor = [], [], 0.0
    for source in sources:
        for clip, utt in _speech_clips(source):
            gap = (rng.standard_normal(int(DENSE_GAP_S * SR)) * 10 ** (-60 / 20)).astype(np.float32)
            pieces += [clip, gap]
            start = cursor + DENSE_PAD_S
            utterances.append({**utt, "channel": 0, "start": round(start, 3),
                               "end": round(start + utt["end"] - utt["start"], 3)})
            cursor += (clip.size + gap.size) / SR
    samples = np.concatenate(pieces)
    call = json.loads(sources[0].read_text("utf-8"))["call"]
    speech = sum(u["end"] - u["start"] for u in utterances)
    return samples, {"channels": 1, "call": call, "utterances": utterances,
                     "sources": [s.name for s in sources], "silence": round(1 - speech * SR / samples.size, 3)}


def make_dense_archive(name: str, min_s: float) -> tuple[Path, float]:
    """Generate bench/out/<name>/ once: speech-dense calls, each with <stem>.truth.json, and meta.csv.

    The fixtures of one call type and industry are joined 2-4 at a time (a type
    with a single fixture gives a call of its own) after squeezing every pause to
    DENSE_GAP_S: 15-120 s calls with about 10 % non-speech. Passes over all fixtures
    repeat, in a new order and other codecs, until `min_s` of audio.
    """
    folder = OUT / name
    manifest = folder / "manifest.json"
    params = {"seed": SEED, "min_s": min_s, "gap": DENSE_GAP_S, "version": 1}
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved["params"] == params:
            return folder, saved["audio_s"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    groups: dict[tuple, list[Path]] = {}
    for source in sorted(p for d in DENSE_SOURCES for p in d.glob("*.truth.json")):
        call = json.loads(source.read_text("utf-8"))["call"]
        groups.setdefault((call["type"], call["industry"]), []).append(source)
    total, index, meta = 0.0, 0, ["file,type,industry"]
    while total < min_s:
        for key in sorted(groups):
            order = [groups[key][i] for i in rng.permutation(len(groups[key]))]
            while order:
                take = min(int(rng.integers(2, 5)), len(order))
                if len(order) - take == 1:  # never leave one short fixture to make a call alone
                    take = take + 1 if take < 4 else take - 1
                samples, truth = _dense_call(order[:take], rng)
                order = order[take:]
                codec = CODECS[index % len(CODECS)]
                path = folder / f"dense_{index:03d}.{codec[0]}"
                _encode(path, samples, codec)
                truth["file"] = path.name
                (folder / f"{path.stem}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1))
                meta.append(f"{path.name},{key[0]},{key[1]}")
                total += samples.size / SR
                index += 1
    (folder / "meta.csv").write_text("\n".join(meta) + "\n")
    manifest.write_text(json.dumps({"params": params, "audio_s": round(total, 1), "files": index}, indent=1))
    return folder, round(total, 1)


# -- measurement --------------------------------------------------------------------------
def _tree_pss_kib(pid: int) -> int:
    """PSS of a process and all its descendants (shared pages counted once overall)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for task in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except (OSError, ValueError):
            pass
    return total


def run_measured(argv: list[str], env: dict | None = None, stdout: bool = False) -> dict:
    """Run a child; wall seconds, peak RSS MiB of its largest process (wait4), peak tree PSS MiB (sampled).

    `stdout`: also return what the child printed, as "stdout" (it should print little).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_pss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{stderr.decode()[-3000:]}")
    result = {"wall_s": wall, "rss_mib": usage.ru_maxrss / 1024, "tree_pss_mib": peak[0] / 1024}
    if stdout:
        result["stdout"] = proc.stdout.read().decode()
    return result


# argv: the JSON-lines file to write ({"file", "segments"} per recording), then the recordings.
BARE_ASR = """
import json, os, sys
from faster_whisper import WhisperModel
from pipeline.core.models import resolve_model
model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8", cpu_threads=os.cpu_count(),
                     local_files_only=True)
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for path in sys.argv[2:]:
        segments, _ = model.transcribe(path, language="zh", beam_size=5)
        segments = [{"start": s.start, "end": s.end, "channel": 0, "text": s.text} for s in segments]
        out.write(json.dumps({"file": os.path.basename(path), "segments": segments}, ensure_ascii=False) + "\\n")
"""

# Everything Analyser.analyse_file does, with Whisper replaced by the transcript a real scan produced.
NON_ASR = """
import copy, json, sys
from pipeline.scan import transcribe
from pipeline.scan.analyser import Analyser
from pipeline.scan.discovery import discover
from pipeline.scan.options import ScanOptions
report, folder = sys.argv[1], sys.argv[2]
cached = {r["file"]: r["segments"] for r in map(json.loads, open(report, encoding="utf-8"))}
current = [None]
def stub(model, samples, rate, speech, options=None):
    segments = [{k: v for k, v in s.items() if k != "recovered"} for s in copy.deepcopy(cached[current[0]])]
    return transcribe.Transcript(segments)
transcribe.load_model = lambda *a, **k: None
transcribe.transcribe = stub
analyser = Analyser(ScanOptions())
for rec in discover([folder]):
    current[0] = rec.relative
    record, _ = analyser.analyse_file(rec)
    assert record["status"] == "ok", record["error"]
"""


# -- accuracy on the speech-dense archive -------------------------------------------------
def score(folder: Path, records: dict[str, dict]) -> dict:
    """Character error rate and statement-location recall of `records` ({stem: record}) against the truth."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers_truth import cer, statement_counts
    truths = {p.name[: -len(".truth.json")]: json.loads(p.read_text("utf-8")) for p in folder.glob("*.truth.json")}
    errors = [cer(records[stem], truth) for stem, truth in truths.items()]
    counts = statement_counts(records, truths)
    return {"cer": sum(e for e, _ in errors) / sum(c for _, c in errors), "found": counts["found"],
            "total": counts["total"], "wrong": counts["wrong"]}


def scan_records(out: Path) -> dict[str, dict]:
    return {Path(r["file"]).stem: r for r in map(json.loads, (out / "report.jsonl").open(encoding="utf-8"))}


def bare_records(jsonl: Path, folder: Path) -> dict[str, dict]:
    """Bare faster-whisper's transcripts as records: statements located by the scan's own matcher.

    The call type and industry come from the archive's meta.csv, as for the scan;
    segments without word timestamps are placed by spreading their text over their time.
    """
    from pipeline.core import meta
    from pipeline.scan import classify, match, phrase_catalog
    from pipeline.scan.transcribe import to_simplified
    catalog = phrase_catalog.load_catalog(str(ROOT / "phrases"))
    rows = meta.load_meta(str(folder / "meta.csv"))
    records = {}
    for line in jsonl.open(encoding="utf-8"):
        item = json.loads(line)
        segments = [{**s, "text": to_simplified(s["text"].strip())} for s in item["segments"]]
        call = classify.classify_call(segments, catalog, meta.lookup(rows, item["file"]))
        records[Path(item["file"]).stem] = {"segments": segments,
                                            "annotations": match.check_call(segments, call, catalog)[0]}
    return records


def scan_cmd(folder: Path, out: Path, workers: int, *extra: str) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    return [sys.executable, "-m", "pipeline", "scan", str(folder), "--out", str(out), "--workers", str(workers),
            "--clips", "none", *extra]


def edited_phrases() -> Path:
    """A copy of phrases/ with one word of a comment in rules.yaml changed: a catalog edit that needs no ASR."""
    folder = OUT / "phrases-edited"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "phrases", folder)
    rules = folder / "rules.yaml"
    text = rules.read_text("utf-8")
    assert "Per-rule threshold" in text
    rules.write_text(text.replace("Per-rule threshold", "Per-rule score threshold", 1), "utf-8")
    return folder


def recheck_cmd(folder: Path, scanned: Path, out: Path, workers: int, phrases: Path) -> list[str]:
    """A scan into a fresh copy of an earlier scan's output folder, with the edited catalog."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(scanned, out)
    return [sys.executable, "-m", "pipeline", "scan", str(folder), "--out", str(out), "--workers", str(workers),
            "--clips", "none", "--phrases", str(phrases)]


def measure(label: str, make_argv, repeat: int, results: dict, env: dict | None = None) -> dict:
    runs = []
    for i in range(repeat):
        runs.append(run_measured(make_argv(), env))
        print(f"  {label} run {i + 1}/{repeat}: {runs[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    results[label] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    results[label]["walls"] = [round(r["wall_s"], 1) for r in runs]
    return results[label]


def dense_comparison(repeat: int) -> dict:
    """The default scan vs bare faster-whisper (beam 5) on the speech-dense archive: wall, CER, statement recall.

    The two alternate (scan, bare, then bare, scan, ...) so that load from other
    work on a shared machine falls on both; medians of `repeat` runs.
    """
    print("generating speech-dense archive ...", file=sys.stderr, flush=True)
    folder, audio_s = make_dense_archive("dense", 8 * 60)
    files = sorted(str(p) for p in folder.iterdir() if p.suffix not in (".json", ".csv"))
    scan_out, bare_out = OUT / "dense-scan", OUT / "dense-bare.jsonl"
    cores = os.cpu_count() or 1
    steps = {f"scan ({cores} workers, default)": lambda: scan_cmd(folder, scan_out, cores, "--meta",
                                                                   str(folder / "meta.csv")),
             "bare faster-whisper, beam 5": lambda: [sys.executable, "-c", BARE_ASR, str(bare_out), *files]}
    walls: dict[str, list[float]] = {label: [] for label in steps}
    for i in range(repeat):
        for label in (list(steps) if i % 2 == 0 else list(steps)[::-1]):
            walls[label].append(run_measured(steps[label]())["wall_s"])
            print(f"  dense: {label} run {i + 1}/{repeat}: {walls[label][-1]:.1f} s", file=sys.stderr, flush=True)
    (scan_label, scan_walls), (bare_label, bare_walls) = walls.items()
    result = {"audio_s": audio_s, "files": len(files), "steps": {
        scan_label: {"walls": scan_walls, **score(folder, scan_records(scan_out))},
        bare_label: {"walls": bare_walls, **score(folder, bare_records(bare_out, folder))}}}
    print(f"\nspeech-dense archive: {len(files)} calls, {audio_s / 60:.1f} min ({folder.relative_to(ROOT)}), "
          f"runs interleaved, medians of {repeat}")
    print(f"{'':40}{'wall s':>8}{'RTF':>8}{'CER':>8}{'statements':>12}")
    for label, m in result["steps"].items():
        m["wall_s"] = statistics.median(m["walls"])
        print(f"{label:40}{m['wall_s']:8.1f}{m['wall_s'] / audio_s:8.3f}{m['cer']:8.3f}"
              f"{m['found']:>8}/{m['total']}")
    scan, bare = result["steps"][scan_label], result["steps"][bare_label]
    for name, ok in ((f"scan / bare wall {scan['wall_s'] / bare['wall_s']:.2f}, target <= 0.6",
                      scan["wall_s"] <= 0.6 * bare["wall_s"]),
                     (f"CER scan {scan['cer']:.3f} <= bare {bare['cer']:.3f}", scan["cer"] <= bare["cer"]),
                     (f"statement recall scan {scan['found']} >= bare {bare['found']}", scan["found"] >= bare["found"])):
        print(f"{name:60}{'ok' if ok else 'MISSED'}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=">= 8 min archive instead of >= 30 min")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timed step; medians are reported")
    parser.add_argument("--ray", action="store_true", help="also time --engine ray (local instance)")
    parser.add_argument("--no-long", action="store_true", help="skip the ~60 min recording")
    parser.add_argument("--dense-only", action="store_true", help="only the speech-dense archive comparison")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    OUT.mkdir(exist_ok=True)
    dense = dense_comparison(args.repeat)
    if args.dense_only:
        (OUT / "results-dense.json").write_text(json.dumps(dense, indent=1))
        return

    print("generating archive ...", file=sys.stderr, flush=True)
    folder, audio_s = make_archive("archive-quick" if args.quick else "archive",
                                   8 * 60 if args.quick else 30 * 60, (2, 3))
    files = sorted(str(p) for p in folder.iterdir() if p.name != "manifest.json")
    r: dict = {}
    w1 = OUT / "scan-w1"
    measure("scan 1 worker x %d threads" % cores, lambda: scan_cmd(folder, w1, 1), args.repeat, r)
    default_label, default_out = "scan 1 worker x %d threads" % cores, w1
    if cores > 1:
        default_label, default_out = f"scan {cores} workers x 1 thread", OUT / "scan-wN"
        measure(default_label, lambda: scan_cmd(folder, default_out, cores), args.repeat, r)
    phrases = edited_phrases()
    measure("re-check after a phrase edit",
            lambda: recheck_cmd(folder, default_out, OUT / "recheck", cores, phrases), args.repeat, r)
    if args.ray:
        measure(f"scan --engine ray ({cores} actors)",
                lambda: scan_cmd(folder, OUT / "scan-ray", cores, "--engine", "ray"), args.repeat, r)
    measure("bare faster-whisper", lambda: [sys.executable, "-c", BARE_ASR, str(OUT / "bare.jsonl"), *files],
            args.repeat, r)
    measure("non-ASR stages (ASR stubbed)",
            lambda: [sys.executable, "-c", NON_ASR, str(w1 / "report.jsonl"), str(folder)], args.repeat, r)
    long_s = None
    if not args.no_long:
        print("generating ~60 min recording ...", file=sys.stderr, flush=True)
        long_folder, long_s = make_archive("long", 60 * 60, (0, 0), single=True)
        measure("scan of one ~60 min call, 1 worker", lambda: scan_cmd(long_folder, OUT / "scan-long", 1), 1, r)

    print(f"\n{len(files)} files, {audio_s / 60:.1f} min of audio ({folder.relative_to(ROOT)}), "
          f"{cores} cores, repeat {args.repeat} (medians)")
    print(f"{'':40}{'wall s':>8}{'RTF':>8}{'RSS MiB':>9}{'tree PSS MiB':>14}")
    for label, m in r.items():
        dur = long_s if label.startswith("scan of one") else audio_s
        print(f"{label:40}{m['wall_s']:8.1f}{m['wall_s'] / dur:8.3f}{m['rss_mib']:9.0f}{m['tree_pss_mib']:14.0f}")
    scans = {k: v for k, v in r.items() if k.startswith("scan ") and not k.startswith("scan of one")}
    best_label = min(scans, key=lambda k: scans[k]["wall_s"])
    best, bare = scans[best_label], r["bare faster-whisper"]
    non_asr = r["non-ASR stages (ASR stubbed)"]
    w1_wall = r["scan 1 worker x %d threads" % cores]["wall_s"]
    wN = scans.get(f"scan {cores} workers x 1 thread")
    recheck = r["re-check after a phrase edit"]
    checks = [
        (f"best scan ({best_label}) / bare ASR wall", best["wall_s"] / bare["wall_s"], 0.8),
        ("non-ASR stages / 1-worker scan wall", non_asr["wall_s"] / w1_wall, 0.10),
        (f"re-check after phrase edit / {default_label}", recheck["wall_s"] / r[default_label]["wall_s"], 0.10),
    ]
    if wN:
        checks.append((f"peak tree PSS, {cores} workers (GiB)", wN["tree_pss_mib"] / 1024, 1.5))
        print(f"scaling: {cores} workers / 1 worker wall = {wN['wall_s'] / w1_wall:.2f}")
    for name, value, target in checks:
        print(f"{name:52}{value:7.2f}  target <= {target:<5} {'ok' if value <= target else 'MISSED'}")
    (OUT / "results.json").write_text(json.dumps({"audio_s": audio_s, "long_s": long_s, "cores": cores,
                                                  "steps": r, "dense": dense}, indent=1))


if __name__ == "__main__":
    main()
