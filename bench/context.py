"""The report's context sections: CLI start-up, the profile, the history cache, the machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.tables import num, relative, table


def startup_section(startup: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"`balancewatch {name}`",
            num(t["median_ms"], 0),
            num(t["mean_ms"], 0),
            num(t["stddev_ms"], 0),
            num(t["min_ms"], 0),
            str(t["runs"]),
        ]
        for name, t in startup["commands"].items()
    ]
    lines = [
        f"Timed with {startup['tool']}; the small config is `bench/results/startup-config.yaml`"
    ]
    lines[0] += " (4 accounts, one `json://` notifier; `check` polls them on loopback)."
    lines += ["", *table(["command", "median ms", "mean", "σ", "min", "runs"], rows), ""]
    for label, it in startup["importtime"].items():
        lines.append(
            f"`{' '.join(it['argv'])}`: {it['total_ms']:.0f} ms of imports, "
            f"{it['modules']} modules (median of {it['runs']} runs). Self time per top-level package:"
        )
        lines.append("")
        top = ", ".join(f"{name} {ms:.0f}" for name, ms in it["by_package_ms"][:10])
        lines.append(f"> {top} (ms)")
        lines.append("")
        if "top_modules_self_ms" in it:
            heavy = ", ".join(f"{n} {ms:.0f}" for n, ms in it["top_modules_self_ms"][:10])
            lines += [f"Heaviest single modules (self): {heavy} (ms).", ""]
        del label
    return lines


def profile_section(results: list[dict[str, Any]], out: Path) -> list[str]:
    lines: list[str] = []
    for r in results:
        profile = r["daemon"].get("profile")
        if not profile:
            continue
        lines += [
            f"py-spy, {profile['seconds']:.0f} s at 100 Hz on the daemon at N={r['size']:,} "
            f"right after its window ({profile['samples']:,} busy samples; "
            f"{profile.get('idle_samples_dropped', 0):,} samples of threads waiting in a "
            f"selector or queue left out; raw stacks in `{relative(out)}/{profile['file']}`).",
            "",
        ]
        own = [[name, f"{share}%"] for name, share in profile["self_percent"][:15]]
        incl = [[name, f"{share}%"] for name, share in profile["inclusive_percent"][:25]]
        lines += ["Self time (the frame on top of the stack):", ""]
        lines += [*table(["function (module)", "share"], own), ""]
        lines += [
            f"Inclusive time (the frame anywhere on the stack; over the "
            f"{profile.get('complete_stacks', profile['samples']):,} samples whose stack "
            "py-spy read whole):",
            "",
        ]
        lines += [*table(["function (module)", "share"], incl), ""]
        threads = ", ".join(f"{name}: {share}%" for name, share in profile["threads_percent"])
        lines += [
            f"Samples by thread: {threads}. py-spy counts a thread waiting for the disk "
            "(the commits' fsync) as busy: the CPU split is the /proc one in the size's "
            "section.",
            "",
        ]
        for thread, frames in profile.get("thread_inclusive_percent", {}).items():
            rows = [[name, f"{share}%"] for name, share in frames][:25]
            lines += [f"Inclusive time within {thread} (share of its samples):", ""]
            lines += [*table(["function (module)", "share"], rows), ""]
    return lines


def rss_section(rss: dict[str, Any]) -> list[str]:
    rows = [
        [
            str(step["step"]),
            f"{step['rss_mb']:.0f} MB",
            f"{step['peak_rss_mb']:.0f} MB",
            f"{step['seconds']:.1f} s",
        ]
        for step in rss["steps"]
    ]
    return [
        f"What `balancewatch run` holds before its first poll, step by step (`bench/rss.py`, "
        f"N={rss['accounts']:,}, a fresh process):",
        "",
        *table(["step", "RSS after", "peak so far", "took"], rows),
        "",
    ]


def history_section(results: list[dict[str, Any]], history: dict[str, Any]) -> list[str]:
    full = history.get("history_mb_when_full", {})
    worst = history.get("history_mb_when_full_changing_every_poll", {})
    rows = [
        [
            f"{r['size']:,}",
            f"{r['daemon']['memory']['peak_rss_mb']:.0f} MB",
            f"{full.get(str(r['size']), 0):,.1f} MB",
            f"{worst.get(str(r['size']), 0):,.1f} MB",
        ]
        for r in results
    ]
    return [
        "The daemon keeps, per account, the polls within its rules' longest window plus the "
        "previous one: here an hour for the accounts with a `change` rule, the previous poll "
        f"for the others ({history['snapshots_kept_per_account']:.1f} polls per account on "
        "average), and of each poll only the amounts its rules read, an unchanged amount "
        "shared with the poll before. A run of minutes does not fill that, so "
        "`bench/memory.py` fills a real `AccountCache` and weighs it with tracemalloc: "
        f"{history['bytes_per_account']:,.0f} B per account with the simulator's steady "
        f"balances, {history['bytes_per_account_changing_every_poll']:,.0f} B when every "
        "amount changes on every poll (whole snapshots, as kept before 27617b3: "
        f"{history['bytes_per_account_as_whole_snapshots']:,.0f} B).",
        "",
        *table(
            [
                "N",
                "peak RSS measured",
                "history once full (to add)",
                "same, amounts changing every poll",
            ],
            rows,
        ),
        "",
    ]


def machine_section(m: dict[str, Any]) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gb']} GB memory",
        f"- {m['os']}, kernel {m['kernel']}, Python {m['python']}",
        f"- {versions}",
    ]
    lines += [f"- note: {note}" for note in m.get("notes", {}).values()]
    return lines


# ---------------------------------------------------------------- the file
