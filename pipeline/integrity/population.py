"""Format outliers: the recording whose format signature differs from the norm its siblings share.

One call system writes a whole archive with one configuration, so the format layer
needs no model of "genuine": the archive is its own reference. Recordings are
grouped by source (`source_key`: the folder and the file-name pattern with every
run of digits as ``#``, without the extension, which is itself a compared field),
each group's norm is what most siblings share, and a member that differs is
reported field by field: ``{field, value, norm, siblings_sharing, siblings}``.

Margins, and why:

* ``MIN_SIBLINGS`` = 5: with fewer than five others, "what most siblings share" is
  one or two files' word; a group that small gets no norm and no outliers, and is
  listed in ``format_groups`` as ``not_enough_siblings`` so the verdict can say so.
* Categorical fields (codec, header layout, tag keys, encoder strings, MP3 header
  flags ...): the norm is the value more than ``NORM_SHARE`` (60 %) of the siblings
  share. A field without such a majority (the source itself varies in it) has no
  norm and flags nobody. A genuine call system writes these identically every
  time; the only genuine changes are upgrades, handled below.
* ``*_used`` facts (MP3: reservoir, short blocks, scfsi ...) are compared one way:
  a member that uses what no sibling's encoder ever used is flagged; one that does
  not use what the siblings sometimes use is not (a quiet call may need no short
  block at all).
* Numeric statistics (``stats``: frame-choice shares and means, packet sizes): the
  norm is the siblings' median. Allowed: within a factor ``RATIO`` (4) of it, or
  median ± ``SPREAD_K`` × spread, spread = max(1.4826 × MAD, ``REL_FLOOR`` × |median|,
  ``ABS_FLOOR``), and never narrower than the siblings' own min..max. Where a
  configuration makes a choice at all, how often it does still moves with the call:
  on the development half one LAME configuration gave scalefac_scale shares of
  0.15-0.78 and scalefactor-coding shares up to 3.1 × their median, so MAD alone (a
  tight core with a long tail) would flag genuine calls; a factor of 4 covers that
  with room. What tells encoders apart is a factor of 10-300 (bit reservoir 0 % vs
  99 % of frames) or a choice one of them never makes (the ``*_used`` facts).
  The floors stop a norm whose siblings agree exactly (MAD 0) from flagging the
  first recording a hair away.
* Upgrades: members are ordered by time (``mtime``, or the call date). When a field's
  value changes for good (a cut with at least ``MIN_SIBLINGS`` members on each side,
  more than NORM_SHARE of each side sharing its side's value, the two values
  different), the group is split there and each period gets its own norm, so a
  system upgrade is a new norm, not hundreds of flags; a stray edit on either side
  does not stop the split and is still flagged within its period. The price: five or
  more edits in a row, all written the same other way, would be a period too.
* Leave-one-out: a member is compared with its siblings, never with a norm it
  voted for itself.
* Frame statistics are weak evidence alone: a member whose only differences are
  frame statistics (``stats.*`` ranges and ``*_used`` facts of the frames) is flagged
  when at least ``MIN_FRAME_DIFFERENCES`` (2) of them disagree. One such statistic
  still moves with the audio now and then for one configuration (on the real-speech
  codec set, 3 of 153 genuine copies had exactly one statistic out of range, none had
  two), while another encoder differs in several at once (the careful MP3 forgers:
  bit-reservoir use and scalefactor coding together, against shine also short blocks
  and preflag). Header, tag and stream fields flag on their own.

Plain functions over plain data; it must not read files (signature.py does).
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import Counter

MIN_SIBLINGS = 5
MIN_FRAME_DIFFERENCES = 2
NORM_SHARE = 0.6
SPREAD_K = 6.0
RATIO = 4.0
EXACT_LOO = 400  # above this many members one member's own vote moves a median or MAD negligibly
REL_FLOOR = 0.05
ABS_FLOOR = 0.02
NOT_COMPARED = ("content", "errors", "signature_version")


def source_key(path: str) -> str:
    """The call system a recording came from, by where and how it is named: folder/pattern, digits as #."""
    folder, name = os.path.split(path.replace("\\", "/"))
    stem = os.path.splitext(name)[0]
    return re.sub(r"\d+", "#", f"{folder}/{stem}".lower())


def flatten(signature: dict) -> tuple[dict, dict]:
    """(categorical fields, numeric stats) of a signature, with dotted names, ``content`` left out."""
    cats: dict = {}
    nums = {f"stats.{k}": float(v) for k, v in (signature.get("stats") or {}).items()
            if isinstance(v, (int, float))}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            cats[prefix] = value

    for key, value in signature.items():
        if key not in NOT_COMPARED and key != "stats":
            walk(key, value)
    return cats, nums


def _time(member: dict):
    value = member.get("mtime")
    return value if value is not None else member.get("date") or ""


def format_groups(members: list[dict]) -> list[dict]:
    """The sources, their format families and periods: ``{source, family, period, members: [call_id], status}``.

    status: ``compared`` or ``not_enough_siblings`` (fewer than MIN_SIBLINGS + 1
    members, or a stray format in a mixed source: see _families).
    """
    by_source: dict[str, list[dict]] = {}
    for m in members:
        by_source.setdefault(source_key(m["path"]), []).append(m)
    out = []
    for source, group in sorted(by_source.items()):
        for family, members_of, comparable in _families(group):
            members_of.sort(key=lambda m: (str(_time(m)), m["path"]))
            for i, period in enumerate(_periods(members_of)):
                status = "compared" if comparable and len(period) > MIN_SIBLINGS else "not_enough_siblings"
                out.append({"source": source, "family": family, "period": i,
                            "members": [m["call_id"] for m in period],
                            "first": _time(period[0]), "last": _time(period[-1]), "status": status})
    return out


def _family(member: dict) -> str:
    signature = member.get("signature") or {}
    return f"{signature.get('container')}/{signature.get('codec')}"


def _families(group: list[dict]) -> list[tuple[str, list[dict], bool]]:
    """A source's members by format family (container/codec): (family, members, comparable).

    A family with more than MIN_SIBLINGS members is a call system of its own (two
    systems may write to one folder, or an upgrade changed the codec) and has its own
    norm. The smaller families are strays: where one family holds more than
    NORM_SHARE of the source they are compared with it (a call re-saved as WAV among
    MP3 siblings differs in codec and header: that is the point); where no family
    dominates, the source is mixed and a stray has no siblings of its format
    (`comparable` False: not_enough_siblings), rather than being an outlier of
    everything. The price: six or more edits written the same other way would form a
    family of their own.
    """
    by_family: dict[str, list[dict]] = {}
    for m in group:
        by_family.setdefault(_family(m), []).append(m)
    ranked = sorted(by_family.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    dominant, members_of = ranked[0]
    dominates = len(members_of) > NORM_SHARE * len(group)
    strays = [m for family, ms in ranked[1:] if len(ms) <= MIN_SIBLINGS for m in ms]
    out = [(family, list(ms), True) for family, ms in ranked[1:] if len(ms) > MIN_SIBLINGS]
    if dominates:
        out.insert(0, (dominant, members_of + strays, True))
    else:
        if len(members_of) > MIN_SIBLINGS:
            out.insert(0, (dominant, list(members_of), True))
        else:
            strays = members_of + strays
        out += [(_family(m), [m], False) for m in strays]
    return out


def format_outliers(members: list[dict]) -> dict[str, list[dict]]:
    """call_id -> how its format differs from its siblings' norm ([] when it matches).

    `members`: ``{"call_id", "path" (relative to the archive root), "mtime" or "date"
    (optional, sortable), "signature" (signature.format_signature)}``. Members of a
    group too small to have a norm are left out (see format_groups: not_enough_siblings).
    Each difference: ``{"field", "value", "norm", "siblings_sharing", "siblings"}``; for a
    numeric statistic ``norm`` is ``[low, high]`` and ``siblings_sharing`` the count inside it.
    """
    by_id = {m["call_id"]: m for m in members}
    out: dict[str, list[dict]] = {}
    for group in format_groups(members):
        if group["status"] == "compared":
            period = [by_id[c] for c in group["members"]]
            out.update(zip(group["members"], _period_differences(period)))
    return out


def _period_differences(period: list[dict]) -> list[list[dict]]:
    """Each member against the others (leave-one-out), from counts kept once for the whole period."""
    flat = [flatten(m.get("signature") or {}) for m in period]
    fields = sorted({f for c, _ in flat for f in c})
    counts = {f: Counter(_key(c.get(f)) for c, _ in flat) for f in fields}
    blocks = sorted({".".join(f.split(".")[:j]) for f in fields for j in range(1, f.count(".") + 1)})
    absent = {b: sum(_absent(b, c) for c, _ in flat) for b in blocks}
    numbers = sorted({f for _, n in flat for f in n})
    ranges = {}  # large periods: one range for all, with how many members have the field and lie inside it
    if len(flat) > EXACT_LOO:
        for f in numbers:
            values = [n[f] for _, n in flat if f in n]
            low, high = _allowed(values)
            ranges[f] = (low, high, len(values), sum(1 for v in values if low <= v <= high))
    result = []
    for i, (cats, nums) in enumerate(flat):
        siblings = len(flat) - 1
        found = []
        for field in fields:
            own = _key(cats.get(field))
            norm, n = _top_without(counts[field], own)
            if n <= NORM_SHARE * siblings or own == norm:
                continue
            if field.endswith("_used") and norm != "false":  # "sometimes" may be "not on this call"
                continue
            found.append({"field": field, "value": cats.get(field), "norm": _unkey(norm),
                          "siblings_sharing": n, "siblings": siblings})
        norm_absent = {b: (absent[b] - _absent(b, cats)) > NORM_SHARE * siblings for b in blocks}
        found = _collapse_blocks(found, cats, norm_absent)
        for field in sorted(nums):
            value = nums[field]
            if field in ranges:
                low, high, have, inside = ranges[field]
                have -= 1
            else:
                sib = [n[field] for j, (_, n) in enumerate(flat) if j != i and field in n]
                if len(sib) < MIN_SIBLINGS:
                    continue
                low, high = _allowed(sib)
                have, inside = len(sib), sum(1 for v in sib if low <= v <= high)
            if not low <= value <= high:
                found.append({"field": field, "value": round(value, 4), "norm": [round(low, 4), round(high, 4)],
                              "siblings_sharing": inside, "siblings": have})
        result.append(found if any(not _frame_statistic(d["field"]) for d in found)
                      or len(found) >= MIN_FRAME_DIFFERENCES else [])
    return result


def _frame_statistic(field: str) -> bool:
    """A statistic of the coded frames (weak alone: see the module docstring), not a header or stream field."""
    return field.startswith("stats.") or (field.startswith("mp3_frames.") and field.endswith("_used"))


def _top_without(counts: Counter, own: str) -> tuple[str, int]:
    """The most shared value and its count among the others: the period's counts less this member's vote."""
    top = counts.most_common(2)
    (v1, c1) = top[0]
    if v1 != own:
        return v1, c1
    if len(top) > 1 and top[1][1] > c1 - 1:
        return top[1]
    return v1, c1 - 1


def _collapse_blocks(found: list[dict], cats: dict, norm_absent: dict[str, bool]) -> list[dict]:
    """One difference for a whole header block the member lacks (or alone has), not one per field in it."""
    out: list[dict] = []
    merged: set[str] = set()
    for d in found:
        parts = d["field"].split(".")
        block = next((".".join(parts[:j]) for j in range(1, len(parts))
                      if _absent(".".join(parts[:j]), cats) != norm_absent[".".join(parts[:j])]), None)
        if block is None:
            out.append(d)
        elif block not in merged:
            merged.add(block)
            own_absent = _absent(block, cats)
            out.append({"field": block, "value": None if own_absent else "present",
                        "norm": "present" if own_absent else None,
                        "siblings_sharing": d["siblings_sharing"], "siblings": d["siblings"]})
    return out


def _absent(block: str, cats: dict) -> bool:
    """No field of the block, or the block itself null (a header the file does not have)."""
    if block in cats:
        return cats[block] is None
    return not any(f.startswith(block + ".") for f in cats)


def _allowed(values: list[float]) -> tuple[float, float]:
    """Within RATIO of the median or SPREAD_K robust spreads of it, or inside the siblings' range (module docstring)."""
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    spread = max(1.4826 * mad, REL_FLOOR * abs(med), ABS_FLOOR)
    low, high = med - SPREAD_K * spread, med + SPREAD_K * spread
    if med > 0:
        low, high = min(low, med / RATIO), max(high, med * RATIO)
    return min(low, min(values)), max(high, max(values))


def _key(value):
    return json.dumps(value, sort_keys=True)


def _unkey(key: str):
    return json.loads(key)


def _periods(group: list[dict]) -> list[list[dict]]:
    """Split a time-ordered group where a new value starts a contiguous run of MIN_SIBLINGS or more."""
    if len(group) < 2 * MIN_SIBLINGS:
        return [group]
    flat = [flatten(m.get("signature") or {})[0] for m in group]
    for field in sorted({f for c in flat for f in c}):
        seq = [_key(c.get(field)) for c in flat]
        cut = _change_point(seq)
        if cut is not None:
            return _periods(group[:cut]) + _periods(group[cut:])
    return [group]


def _change_point(seq: list[str]) -> int | None:
    """Index where one value gives way to another for good: both sides ≥ MIN_SIBLINGS long and mostly uniform.

    Each side must hold its value in more than NORM_SHARE of its members, and the
    values must differ; stray outliers on either side do not stop the split (they are
    flagged within their period). Of the cuts that qualify, the one that leaves the
    fewest members off their side's value. Counts are carried along: one pass.
    """
    best = None
    before, after = Counter(seq[:MIN_SIBLINGS - 1]), Counter(seq[MIN_SIBLINGS - 1:])
    for cut in range(MIN_SIBLINGS, len(seq) - MIN_SIBLINGS + 1):
        before[seq[cut - 1]] += 1
        after[seq[cut - 1]] -= 1
        (b, nb), (a, na) = before.most_common(1)[0], after.most_common(1)[0]
        if a == b or nb <= NORM_SHARE * cut or na <= NORM_SHARE * (len(seq) - cut):
            continue
        if best is None or nb + na > best[0]:
            best = (nb + na, cut)
    return best[1] if best else None
