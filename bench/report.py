"""Results JSON -> Markdown: the tables, the goals with ✓/✗, start-up, the profile.

:func:`write` replaces only the part of the report between :data:`BEGIN` and :data:`END`,
so the analysis written by hand around it survives a re-run; a report without the markers
is created with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import analyze
from bench.context import (
    history_section,
    machine_section,
    profile_section,
    rss_section,
    startup_section,
)
from bench.tables import Row, num, ratio, relative, stat_ms, table

BEGIN = "<!-- bench:generated:begin (bench/report.py rewrites this part) -->"
END = "<!-- bench:generated:end -->"


def per_poll(result: dict[str, Any], name: str) -> float | None:
    if name == "daemon":
        value: float | None = result["daemon"]["cpu_ms_per_poll"]
        return value
    return result["references"].get(name, {}).get("cpu_ms_per_request")


def one_line(result: dict[str, Any]) -> str:
    d = result["daemon"]
    refs = ", ".join(
        f"{name} {num(per_poll(result, name), 3)} ms"
        for name in ("raw", "aiohttp", "blackbox_exporter")
        if name in result["references"]
    )
    return (
        f"N={result['size']}: daemon {num(d['cpu_ms_per_poll'], 3)} ms/poll "
        f"({100 * d['core_share']:.1f}% of a core, {d['polls']} polls), "
        f"peak RSS {d['memory']['peak_rss_mb']:.0f} MB, late p99 "
        f"{stat_ms(d['late_ms'], 'p99')} ms, notify p99 {stat_ms(d['notify_latency_ms'], 'p99')} ms; "
        f"{refs}"
    )


# ---------------------------------------------------------------- sections


def summarytable(results: list[dict[str, Any]]) -> list[str]:
    head = ["N", "CPU/poll", "core", "peak RSS", "late p50 / p99", "notify p99 / max"]
    head += ["records/s", "raw", "aiohttp", "blackbox/probe", "÷raw", "÷aiohttp", "÷blackbox"]
    rows = []
    for r in results:
        d = r["daemon"]
        mine = per_poll(r, "daemon")
        rows.append(
            [
                f"{r['size']:,}",
                f"{num(mine, 3)} ms",
                f"{100 * d['core_share']:.1f}%",
                f"{d['memory']['peak_rss_mb']:.0f} MB",
                f"{stat_ms(d['late_ms'], 'p50')} / {stat_ms(d['late_ms'], 'p99')} ms",
                f"{stat_ms(d['notify_latency_ms'], 'p99')} / {stat_ms(d['notify_latency_ms'], 'max')} ms",
                num(d["sqlite"]["poll_commits_per_s"], 1),
                *(f"{num(per_poll(r, n), 3)} ms" for n in ("raw", "aiohttp", "blackbox_exporter")),
                *(
                    f"{num(ratio(mine, per_poll(r, n)), 1)}×"
                    for n in ("raw", "aiohttp", "blackbox_exporter")
                ),
            ]
        )
    return table(head, rows)


def size_section(r: dict[str, Any]) -> list[str]:
    d, refs, plan = r["daemon"], r["references"], r["plan"]
    lines = [
        f"### N = {r['size']:,}",
        "",
        f"Interval {plan['interval']:g} s, jitter 10%; daemon: {plan['warmup']:g} s warm-up, "
        f"then {d['window_s']:.0f} s measured; references: {plan['ref_warmup']:g} s warm-up, "
        f"then {plan['ref_window']:g} s measured. Finished {r['finished_at']}"
        + (
            f"; code: commit {r['code']['commit']}"
            + (" with local changes" if r["code"]["balancewatch_modified"] else "")
            + f" (balancewatch/ sha256 {r['code']['balancewatch_sha256']})."
            if "code" in r
            else "."
        ),
        "",
    ]
    names = [n for n in ("raw", "aiohttp", "blackbox_exporter") if n in refs]
    head = ["", "balancewatch", *[{"raw": "raw asyncio"}.get(n, n) for n in names]]

    def row(label: str, mine: str, theirs: Callable[[dict[str, Any]], str]) -> Row:
        return [label, mine, *(theirs(refs[n]) for n in names)]

    rows = [
        row(
            "CPU per poll / request",
            f"{num(d['cpu_ms_per_poll'], 3)} ms",
            lambda x: f"{num(x['cpu_ms_per_request'], 3)} ms",
        ),
        row(
            "balancewatch ÷ this",
            "1×",
            lambda x: f"{num(ratio(d['cpu_ms_per_poll'], x['cpu_ms_per_request']), 1)}×",
        ),
        row(
            "share of one core",
            f"{100 * d['core_share']:.2f}%",
            lambda x: f"{100 * x['core_share']:.2f}%",
        ),
        row(
            "CPU seconds in window",
            num(d["cpu_s"], 2),
            lambda x: num(x["cpu_s"], 2),
        ),
        row(
            "peak RSS (VmHWM)",
            f"{d['memory']['peak_rss_mb']:.1f} MB",
            lambda x: f"{x['peak_rss_mb']:.1f} MB" if x["peak_rss_mb"] else "–",
        ),
        row(
            "polls in window (failed)",
            f"{d['polls']:,} ({d['failed_polls']}) of ~{d['polls_expected']:,.0f}",
            lambda x: f"{x['requests']:,} ({x['failed']})",
        ),
        row(
            "scheduling lateness p50 / p99 / max",
            f"{stat_ms(d['late_ms'], 'p50', 1)} / {stat_ms(d['late_ms'], 'p99', 1)} / "
            f"{stat_ms(d['late_ms'], 'max', 1)} ms",
            lambda x: (
                f"{stat_ms(x['late_ms'], 'p50', 1)} / {stat_ms(x['late_ms'], 'p99', 1)} / "
                f"{stat_ms(x['late_ms'], 'max', 1)} ms"
            ),
        ),
    ]
    lines += table(head, rows)
    sq = d["sqlite"]
    rows_at_end = ", ".join(f"{k} {v:,}" for k, v in sorted(sq["rows"].items()))
    late_notify = d["notify_latency_ms"]
    lines += [
        "",
        f"- Poll duration (request to commit, semaphore waits included) p50 / p99: "
        f"{stat_ms(d['poll_ms'], 'p50', 1)} / {stat_ms(d['poll_ms'], 'p99', 1)} ms; from the time "
        f"APScheduler meant the run to start to the poll's commit (lateness + duration) p50 / "
        f"p99: {stat_ms(d['due_to_done_ms'], 'p50', 1)} / {stat_ms(d['due_to_done_ms'], 'p99', 1)} ms.",
        f"- Daemon start: `validate` of this config took {d['validate_s']:.1f} s; first poll "
        f"{num(d['first_poll_after_s'], 1)} s after launch."
        + (f" **Note:** {d['override']}." if d.get("override") else ""),
        f"- Poll-to-notification latency over {late_notify['count']} notifying polls "
        f"({len(d['crossings']['accounts'])} accounts crossed down and back, "
        f"{d['crossings']['scripted_changes']} balance changes): p50 "
        f"{stat_ms(late_notify, 'p50')} ms, p99 {stat_ms(late_notify, 'p99')} ms, max "
        f"{stat_ms(late_notify, 'max')} ms; {d['notifying_polls_without_arrival']} never arrived; "
        f"{d['messages_received']} messages received in all.",
        f"- SQLite: {num(sq['poll_commits_per_s'], 1)} poll records committed/s "
        f"(`synchronous=FULL`; polls that finish together share a transaction since "
        f"e9f5826) + {num(sq['delivery_marks_per_s'], 2)} delivery marks/s; "
        + (
            f"{d['fsyncs_per_s']:.1f} fsync/fdatasync calls/s (strace, after the window); "
            if d.get("fsyncs_per_s") is not None
            else ""
        )
        + f"{num(sq['disk_write_kb_per_poll'], 1)} kB written to disk per poll; "
        f"rows at the end: {rows_at_end}; file + WAL {sq['file_mb']:.1f} MB.",
        f"- Simulator (not counted anywhere above): "
        f"{num(d['simulator']['cpu_ms_per_request'], 3)} ms CPU per request.",
    ]
    if d.get("thread_cores"):
        split = ", ".join(f"{name} {100 * c:.1f}%" for name, c in d["thread_cores"].items())
        lines.append(f"- The daemon's CPU by thread (share of one core): {split}.")
    if "other_cores_busy" in d:
        machine = refs.get("_machine", {})
        lines.append(
            f"- The machine meanwhile: other processes than the daemon and the simulator kept "
            f"{max(0.0, d['other_cores_busy']):.2f} cores busy during the daemon's window; during the "
            f"references' window the machine was {machine.get('busy_cores', 0):.2f} cores busy, "
            f"{machine.get('measured_cores', 0):.2f} of them the measured processes."
        )
    odd = {k: v for k, v in d["log_events"].items() if k.startswith("apscheduler")}
    if odd or d["error_kinds"]:
        lines.append(
            f"- Whole run, from the log: {odd or ''} failed polls by kind "
            f"{d['error_kinds'] or '{}'}"
        )
    lines.append("")
    return lines


def goals(results: list[dict[str, Any]], startup: dict[str, Any]) -> list[str]:
    big, small = results[-1], results[0]
    bd = big["daemon"]
    mark = {True: "✓", False: "✗", None: "–"}

    def check(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    rows: list[Row] = []
    at = f"N={big['size']:,}"
    rows.append(
        [
            "≤ 25% of one core at 10,000 accounts, 1/min",
            f"{100 * bd['core_share']:.1f}% ({at})",
            mark[check(bd["core_share"], 0.25)],
        ]
    )
    rows.append(
        [
            "≤ 120 MB RSS at 10,000 accounts",
            f"{bd['memory']['peak_rss_mb']:.0f} MB peak ({at})",
            mark[check(bd["memory"]["peak_rss_mb"], 120)],
        ]
    )
    for label, ref, limit in (
        ("CPU per poll ≤ 2× aiohttp's", "aiohttp", 2.0),
        ("CPU per poll below blackbox_exporter's per probe", "blackbox_exporter", 1.0),
    ):
        ratios = [(r["size"], ratio(per_poll(r, "daemon"), per_poll(r, ref))) for r in results]
        shown = ", ".join(f"{num(x, 1)}× (N={n:,})" for n, x in ratios)
        worst = max((x for _n, x in ratios if x is not None), default=None)
        ok = None if worst is None else (worst <= limit if limit != 1.0 else worst < 1.0)
        rows.append([label, shown, mark[ok]])
    lates = [(r["size"], r["daemon"]["late_ms"]["p99"]) for r in results]
    rows.append(
        [
            "scheduling lateness p99 < 1 s",
            ", ".join(f"{num(x, 0)} ms (N={n:,})" for n, x in lates),
            mark[None if any(x is None for _n, x in lates) else all(x < 1000 for _n, x in lates)],
        ]
    )
    notes = [(r["size"], r["daemon"]["notify_latency_ms"]) for r in results]
    missing = sum(r["daemon"]["notifying_polls_without_arrival"] for r in results)
    worst_note = [s["max"] for _n, s in notes if s["max"] is not None]
    rows.append(
        [
            "threshold crossing notified within 2 s of its poll",
            ", ".join(f"max {stat_ms(s, 'max')} ms (N={n:,})" for n, s in notes)
            + (f"; {missing} never arrived" if missing else ""),
            mark[None if not worst_note else max(worst_note) <= 2000 and not missing],
        ]
    )
    cmds = startup["commands"]
    for name, limit in (("--help", 150), ("validate", 400)):
        median = cmds.get(name, {}).get("median_ms")
        rows.append(
            [
                f"`balancewatch {name}` < {limit} ms",
                f"{num(median, 0)} ms median",
                mark[None if median is None else median < limit],
            ]
        )
    # Issue 12's tighter goals, on the same run.
    blackbox = ratio(per_poll(big, "daemon"), per_poll(big, "blackbox_exporter"))
    rows += [
        [
            "(issue 12) ≤ 20% of one core at 10,000 accounts",
            f"{100 * bd['core_share']:.1f}% ({at})",
            mark[check(bd["core_share"], 0.20)],
        ],
        [
            "(issue 12) ≤ 100 MB peak RSS at 10,000 accounts",
            f"{bd['memory']['peak_rss_mb']:.0f} MB peak ({at})",
            mark[check(bd["memory"]["peak_rss_mb"], 100)],
        ],
        [
            "(issue 12) CPU per poll at or below blackbox_exporter's",
            f"{num(blackbox, 2)}× ({at})",
            mark[check(blackbox, 1.0)],
        ],
    ]
    growth = ratio(per_poll(big, "daemon"), per_poll(small, "daemon"))
    rows.append(
        [
            f"CPU per poll at N={big['size']:,} ≤ 1.5× that at N={small['size']:,}",
            f"{num(growth, 2)}×",
            mark[check(growth, 1.5)],
        ]
    )
    return table(["goal (issue 7 unless marked)", "measured", ""], rows)


def size_results(out: Path) -> list[dict[str, Any]]:
    """Every ``n<N>.json`` in ``out``, smallest N first (sizes may come from several runs);
    profiles are summarised again from their raw stacks when those are there."""
    found = [json.loads(path.read_text()) for path in out.glob("n*.json")]
    for result in found:
        profile = result["daemon"].get("profile")
        if profile and (out / profile["file"]).exists():
            summary = analyze.profile_summary(out / profile["file"])
            result["daemon"]["profile"] = {**profile, **summary}
    return sorted(found, key=lambda r: r["size"])


def generated(out: Path) -> str:
    results = size_results(out)
    startup = json.loads((out / "startup.json").read_text())
    m = json.loads((out / "machine.json").read_text())
    history_file = out / "history.json"
    history = json.loads(history_file.read_text()) if history_file.exists() else None
    commands = sorted({r.get("command", "python -m bench.run") for r in results})
    lines = [BEGIN, "", f"Raw JSON: `{relative(out)}/*.json`. Command: "]
    lines[-1] += "; ".join(f"`{c}`" for c in commands)
    lines += ["", "### Summary", "", *summarytable(results), ""]
    lines += ["### Goals", "", *goals(results, startup), ""]
    for r in results:
        lines += size_section(r)
    lines += ["### CLI start-up", "", *startup_section(startup)]
    lines += ["### Profile", "", *profile_section(results, out)]
    rss_file = out / "rss.json"
    if rss_file.exists() or history:
        lines += ["### Memory", ""]
    if rss_file.exists():
        lines += rss_section(json.loads(rss_file.read_text()))
    if history:
        lines += history_section(results, history)
    lines += ["### Machine", "", *machine_section(m), "", END]
    return "\n".join(lines) + "\n"


def write(out: Path, docs: Path) -> None:
    block = generated(out)
    old = docs.read_text(encoding="utf-8") if docs.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block.rstrip("\n") + tail
    else:
        text = "# Benchmarks\n\n" + block
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text, encoding="utf-8")
