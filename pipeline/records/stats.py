"""Coverage of the period and the regulator's ratios, on the rows that passed the row checks.

Coverage: every day of the period should have calls. Listed, each level on its
own: runs of days without a call, ISO weeks (Monday to Sunday, cut to the
period) without a call, months without a call, and days with calls but fewer
than `coverage.low_day_fraction` of the median day (the median over days with
calls).

Ratios per month, per agent and per line: calls, connected calls, connect rate,
average talk time of connected calls, share of connected calls shorter than
`short_call_s`, and the volume of each call type and direction. A group with
fewer than `thresholds.min_calls` calls gets its figures but no verdict.

Findings are plain dicts: kind, check, subject, value, threshold, message
(the same shape pipeline.records.abnormal uses, without rows).
Figures only: it writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipeline.records.config import RecordsConfig

GROUPS = {"month": pl.col("start").dt.truncate("1mo"), "agent": pl.col("agent"), "line": pl.col("line")}
LABELS = {"month": pl.col("month").dt.strftime("%Y-%m"), "agent": pl.col("agent").cast(pl.String),
          "line": pl.col("line").cast(pl.String)}


def finding(kind: str, check: str, subject: str, message: str, value=None, threshold=None, day=None) -> dict:
    """One finding, in the shape every report writer reads."""
    return {"kind": kind, "check": check, "subject": subject, "day": day, "value": value, "threshold": threshold,
            "message": message}


# -- coverage ------------------------------------------------------------------------
def daily_counts(clean: pl.DataFrame, period: tuple[date, date]) -> pl.DataFrame:
    """day, calls for every day of the period (0 where there are none)."""
    days = pl.DataFrame({"day": pl.date_range(period[0], period[1], "1d", eager=True)})
    counts = clean.group_by(pl.col("start").dt.date().alias("day")).agg(pl.len().alias("calls"))
    return days.join(counts, on="day", how="left").with_columns(pl.col("calls").fill_null(0).cast(pl.Int64)) \
        .sort("day")


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days merged into (first, last) runs."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def coverage(daily: pl.DataFrame, config: RecordsConfig) -> tuple[dict, list[dict]]:
    """(coverage summary, gap findings) from the daily counts."""
    with_calls = daily.filter(pl.col("calls") > 0)
    median = float(with_calls["calls"].median()) if with_calls.height else 0.0
    findings = []
    for first, last in _runs(daily.filter(pl.col("calls") == 0)["day"].to_list()):
        n = (last - first).days + 1
        findings.append(finding("coverage", "empty_days", f"{first}..{last}", f"no calls on {n} day(s) "
                                f"{first}..{last}", value=n, day=str(first)))
    weeks = daily.group_by(pl.col("day").dt.truncate("1w").alias("week")).agg(
        pl.col("calls").sum(), pl.col("day").min().alias("first"), pl.col("day").max().alias("last")).sort("week")
    for week in weeks.filter(pl.col("calls") == 0).iter_rows(named=True):
        label = f"{week['first'].isocalendar()[0]}-W{week['first'].isocalendar()[1]:02d}"
        findings.append(finding("coverage", "empty_week", label, f"no calls in week {label} "
                                f"({week['first']}..{week['last']})", day=str(week["first"])))
    months = daily.group_by(pl.col("day").dt.strftime("%Y-%m").alias("month")).agg(pl.col("calls").sum()).sort("month")
    for month in months.filter(pl.col("calls") == 0)["month"].to_list():
        findings.append(finding("coverage", "empty_month", month, f"no calls in {month}", day=f"{month}-01"))
    limit = config.low_day_fraction * median
    for row in daily.filter((pl.col("calls") > 0) & (pl.col("calls") < limit)).iter_rows(named=True):
        findings.append(finding("coverage", "low_day", str(row["day"]),
                                f"{row['calls']} call(s) on {row['day']}, under {config.low_day_fraction:.0%} of the "
                                f"median day ({median:g})", value=row["calls"], threshold=round(limit, 2),
                                day=str(row["day"])))
    findings.sort(key=lambda f: (f["day"], f["check"]))
    summary = {"days": daily.height, "days_with_calls": with_calls.height, "median_day_calls": median,
               "gaps": len(findings)}
    return summary, findings


# -- ratios --------------------------------------------------------------------------
def ratio_table(clean: pl.DataFrame, by: str, config: RecordsConfig) -> pl.DataFrame:
    """One row per month / agent / line with the ratios and the volume by call type and direction."""
    t = config.thresholds
    connected = pl.col("connected")
    types = list(config.call_types)
    return (clean.filter(GROUPS[by].is_not_null())
            .group_by(GROUPS[by].alias(by))
            .agg(pl.len().alias("calls"), connected.sum().alias("connected"),
                 pl.col("duration").filter(connected).mean().alias("average_talk_s"),
                 (connected & (pl.col("duration") < t.short_call_s)).sum().alias("short_calls"),
                 *((pl.col("call_type") == name).sum().alias(name) for name in types))
            .with_columns(LABELS[by],
                          (pl.col("connected") / pl.col("calls")).alias("connect_rate"),
                          (pl.col("short_calls") / pl.col("connected")).alias("short_share"),
                          *(pl.sum_horizontal([n for n in types if config.call_types[n] == d] or [pl.lit(0)]).alias(d)
                            for d in ("inbound", "outbound")))
            .sort(by))


def ratio_findings(table: pl.DataFrame, by: str, config: RecordsConfig) -> list[dict]:
    """A finding per threshold a group (with enough calls) misses."""
    t = config.thresholds
    findings = []
    for row in table.filter(pl.col("calls") >= t.min_calls).iter_rows(named=True):
        subject = f"{by} {row[by]}"
        checks = [("connect_rate", row["connect_rate"], t.min_connect_rate, row["connect_rate"] < t.min_connect_rate,
                   f"connect rate {row['connect_rate']:.1%} under {t.min_connect_rate:.0%}")]
        if row["connected"]:
            checks += [("average_talk", row["average_talk_s"], t.min_average_talk_s,
                        row["average_talk_s"] < t.min_average_talk_s,
                        f"average talk time {row['average_talk_s']:.1f} s under {t.min_average_talk_s:g} s"),
                       ("short_share", row["short_share"], t.max_short_share, row["short_share"] > t.max_short_share,
                        f"{row['short_share']:.1%} of connected calls under {t.short_call_s:g} s "
                        f"(more than {t.max_short_share:.0%})")]
        for name, (low, high) in t.type_share.items():
            share = row[name] / row["calls"]
            checks.append((f"type_share:{name}", share, low if low is not None and share < low else high,
                           (low is not None and share < low) or (high is not None and share > high),
                           f"{name} {share:.1%} of calls, outside {low if low is not None else 0:.0%}.."
                           f"{high if high is not None else 1:.0%}"))
        for check, value, threshold, failed, message in checks:
            if failed:
                findings.append(finding("ratio", f"{by}_{check}", subject, f"{subject}: {message}",
                                        value=round(float(value), 4), threshold=threshold))
    return findings
