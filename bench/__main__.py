"""``python -m bench``: Parley's speed, measured against the targets, printed as one table.

Scenarios (latencies uniform in the ranges given, seeded; Discord round trip 50 ms):

1. single debates, 4 personas at 0.3–0.8 s, verdict 1.0 s: wall / floor, first embed − fastest persona,
   REST calls per debate;
2. the same with GEMINI_MAX_CONCURRENCY=1, the sequential baseline;
3. 10 personas with 300–800-character replies in a 5-per-5-seconds bucket: wall / floor, 429s;
4. 3 debates started at once in one thread (5-per-5-seconds bucket): wall / floor, order, 429s;
5. debates arriving at 5/s across 50 channels: p95 wall / single-debate wall, bot CPU per debate;
6. 200 debates at once: acknowledged within 3 s, completed, p95 wall;
7. the same burst over two bot processes, one shard each, sharing PostgreSQL and Redis: completed, p95
   wall against one process, 429s of Discord's global limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import profile
from bench.rig import Measured, Rig, Shared, fresh_postgres_database, make_plan
from bot.core.personas import DEFAULT_PANEL


@dataclass
class Row:
    scenario: str
    measured: str
    target: str
    met: bool | None


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        for line in with_cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {system}"


async def single_debates(rig: Rig, runs: int, rng: random.Random, first_tag: int) -> list[Measured]:
    results = []
    for n in range(runs):
        results.append(await rig.debate(make_plan(first_tag + n, DEFAULT_PANEL, rng)))
    return results


async def arrivals(
    rig: Rig, rate_per_s: float, seconds: float, rng: random.Random, first_tag: int
) -> list[Measured]:
    """Debates started at ``rate_per_s`` for ``seconds``, round-robin over the channels and members."""
    tasks = []
    count = round(rate_per_s * seconds)
    started = time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate_per_s - time.monotonic()))
        plan = make_plan(first_tag + n, DEFAULT_PANEL, rng)
        channel = rig.text_channels[n % len(rig.text_channels)]
        member = rig.member_for(channel, n)
        tasks.append(asyncio.create_task(rig.debate(plan, channel=channel, member=member)))
    return list(await asyncio.gather(*tasks))


async def at_once(rig: Rig, count: int, rng: random.Random, first_tag: int) -> list[Measured]:
    plans = [make_plan(first_tag + n, DEFAULT_PANEL, rng) for n in range(count)]
    return list(
        await asyncio.gather(
            *(
                rig.debate(
                    plan,
                    channel=(channel := rig.text_channels[n % len(rig.text_channels)]),
                    member=rig.member_for(channel, n),
                    timeout=300,
                )
                for n, plan in enumerate(plans)
            )
        )
    )


async def run(args: argparse.Namespace) -> list[Row]:
    rng = random.Random(args.seed)
    rows: list[Row] = []
    async with Rig() as rig:
        singles = await single_debates(rig, args.runs, rng, 1000)
        ratio = statistics.median(m.wall_over_floor for m in singles)
        first = statistics.median(m.first_embed_over_fastest_s for m in singles)
        single_wall = statistics.median(m.wall_s for m in singles)
        rest = [m.rest_calls for m in singles]
        rows.append(
            Row(
                "4 personas, 0.3–0.8 s, verdict 1.0 s: wall / (max persona + verdict)",
                f"{ratio:.3f} (median of {len(singles)}; wall {single_wall:.2f} s)",
                "≤ 1.10",
                ratio <= 1.10,
            )
        )
        rows.append(
            Row(
                "same: first persona embed − fastest persona latency",
                f"{first * 1000:.0f} ms",
                "≤ 150 ms",
                first <= 0.15,
            )
        )

        before_429 = rig.count_429()
        two_rounds = [
            await rig.debate(make_plan(1500 + n, DEFAULT_PANEL, rng, rounds=2))
            for n in range(max(2, args.runs // 2))
        ]
        rounds_ratio = statistics.median(m.wall_over_floor for m in two_rounds)
        rounds_limited = rig.count_429() - before_429
        rows.append(
            Row(
                "rounds:2, 4 personas: wall / (each round's slowest persona, summed, + verdict); 429s",
                f"{rounds_ratio:.3f} (median of {len(two_rounds)}; wall "
                f"{statistics.median(m.wall_s for m in two_rounds):.2f} s); {rounds_limited}",
                "≤ 1.10; 0",
                rounds_ratio <= 1.10 and rounds_limited == 0,
            )
        )

        before_429 = rig.count_429()
        streamed = [
            await rig.debate(make_plan(1700 + n, DEFAULT_PANEL, rng, verdict_stream_s=4.0))
            for n in range(max(2, args.runs // 3))
        ]
        visible = [m.verdict_visible_after_first_event_s for m in streamed]
        gaps = [m.closest_edits_s for m in streamed if m.closest_edits_s is not None]
        stream_limited = rig.count_429() - before_429
        worst_visible = max(v if v is not None else float("inf") for v in visible)
        closest = min(gaps) if gaps else float("inf")
        rows.append(
            Row(
                "verdict streamed over 4 s: first words shown after its first chunk; closest edits; 429s",
                f"worst {worst_visible * 1000:.0f} ms of {len(streamed)}; {closest:.2f} s; {stream_limited}",
                "≤ 1.2 s; ≥ 1 s; 0",
                worst_visible <= 1.2 and closest >= 1.0 and stream_limited == 0,
            )
        )

        before_429 = rig.count_429()
        tens = [
            await rig.debate(make_plan(2000 + n, rig.ten_panel, rng), guild=rig.ten_guild)
            for n in range(max(2, args.runs // 2))
        ]
        ten_ratio = statistics.median(m.wall_over_floor for m in tens)
        limited = rig.count_429() - before_429
        posts = max(m.posts for m in tens)
        rows.append(
            Row(
                "10 personas, 300–800 chars, 5/5 s bucket: wall / floor; 429s",
                f"{ten_ratio:.3f}; {limited} (≤ {posts} posts per debate)",
                "≤ 1.20; 0",
                ten_ratio <= 1.20 and limited == 0,
            )
        )

        before_429 = rig.count_429()
        shared: list[Shared] = []
        for round_ in range(max(2, args.runs // 3)):
            plans = [make_plan(2500 + 10 * round_ + n, DEFAULT_PANEL, rng) for n in range(3)]
            shared += await rig.shared_debates(plans)
        shared_ratio = statistics.median(m.wall_over_floor for m in shared)
        worst = max(m.wall_over_floor for m in shared)
        shared_limited = rig.count_429() - before_429
        ordered = sum(m.in_order for m in shared)
        rows.append(
            Row(
                "3 debates sharing one channel (5/5 s bucket): wall / floor; order kept; 429s",
                f"median {shared_ratio:.3f}, worst {worst:.3f}; {ordered}/{len(shared)}; {shared_limited}",
                "≤ 1.30; all; 0",
                shared_ratio <= 1.30 and ordered == len(shared) and shared_limited == 0,
            )
        )

        sampler = await profile.record(rig.process.pid, args.seconds, args.profile) if args.profile else None
        cpu_before = rig.cpu_seconds()
        stream = await arrivals(rig, 5.0, args.seconds, rng, 3000)
        cpu_per_debate = (rig.cpu_seconds() - cpu_before) / len(stream)
        if sampler is not None:
            await sampler.wait()
        stream_p95 = p95([m.wall_s for m in stream])
        rows.append(
            Row(
                f"5 debates/s for {args.seconds:g} s over 50 channels: p95 wall / single-debate wall",
                f"{stream_p95 / single_wall:.3f} (p95 {stream_p95:.2f} s; {sum(m.done for m in stream)}"
                f"/{len(stream)} done)",
                "≤ 1.3",
                stream_p95 / single_wall <= 1.3,
            )
        )

        burst = await at_once(rig, args.burst, rng, 5000)
        burst_p95 = p95([m.wall_s for m in burst])
        acked = sum(m.acked_s < 3.0 for m in burst)
        done = sum(m.done for m in burst)
        rows.append(
            Row(
                f"{args.burst} debates at once: acknowledged within 3 s; completed; p95 wall",
                f"{acked}/{len(burst)}; {done}/{len(burst)}; p95 {p95([m.wall_s for m in burst]):.2f} s",
                "100 %",
                acked == done == len(burst),
            )
        )
        rows.append(
            Row(
                "bot process CPU per debate (the 5/s run)",
                f"{cpu_per_debate * 1000:.1f} ms",
                "≤ 25 ms",
                cpu_per_debate <= 0.025,
            )
        )
        rows.append(
            Row(
                "Discord REST calls per 4-persona debate (final status edit included)",
                f"median {statistics.median(rest):g}, max {max(rest)}",
                "≤ 9",
                max(rest) <= 9,
            )
        )
        rows.append(Row("429 responses over the whole run", str(rig.count_429()), "0", rig.count_429() == 0))

    rows.append(await two_processes(args, rng, burst_p95))

    async with Rig(bot_env={"GEMINI_MAX_CONCURRENCY": "1"}) as sequential_rig:
        sequential = await single_debates(sequential_rig, max(2, args.runs // 3), rng, 7000)
    sequential_wall = statistics.median(m.wall_s for m in sequential)
    rows.append(
        Row(
            "sequential baseline (GEMINI_MAX_CONCURRENCY=1) vs concurrent: median wall",
            f"{sequential_wall:.2f} s vs {single_wall:.2f} s ({sequential_wall / single_wall:.1f}× slower)",
            "shown",
            None,
        )
    )
    return rows


async def two_processes(args: argparse.Namespace, rng: random.Random, one_process_p95: float) -> Row:
    """The burst again, over two bot processes (one shard each) sharing PostgreSQL and Redis."""
    scenario = (
        f"{args.burst} debates at once over 2 processes (one shard each, one PostgreSQL, one Redis): "
        "completed; p95 wall vs one process; global 429s"
    )
    try:
        async with (
            fresh_postgres_database(args.postgres) as database_url,
            Rig(processes=2, database_url=database_url, redis_url=args.redis_url) as pair,
        ):
            burst = await at_once(pair, args.burst, rng, 9000)
            global_429 = pair.count_429(only_global=True)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return Row(scenario, f"not measured: PostgreSQL unreachable ({error})", "—", None)
    done = sum(m.done for m in burst)
    two_p95 = p95([m.wall_s for m in burst])
    ratio = two_p95 / one_process_p95
    return Row(
        scenario,
        f"{done}/{len(burst)}; p95 {two_p95:.2f} s vs {one_process_p95:.2f} s ({ratio:.2f}×); {global_429}",
        "all; ≤ 1.10×; 0",
        done == len(burst) and ratio <= 1.10 and global_429 == 0,
    )


def table(rows: Sequence[Row]) -> str:
    lines = ["| scenario | measured | target | met |", "|---|---|---|---|"]
    for row in rows:
        met = "—" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.scenario} | {row.measured} | {row.target} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--runs", type=int, default=10, help="single debates to take medians over (default 10)"
    )
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the 5/s stream (default 40)")
    parser.add_argument("--burst", type=int, default=200, help="debates started at once (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PARLEY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL the two-process run creates its database beside (default: the test server's)",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="Redis the two processes share"
    )
    parser.add_argument("--quick", action="store_true", help="a short run: 3 singles, 8 s stream, 40 at once")
    parser.add_argument(
        "--profile", type=Path, help="also profile the 5/s stream with pyinstrument into this file"
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds, args.burst = 3, 8.0, 40
    started = time.monotonic()
    rows = asyncio.run(run(args))
    print(f"Parley benchmark — {machine()}")
    print(
        f"runs={args.runs} stream={args.seconds:g}s burst={args.burst} seed={args.seed}, "
        f"took {time.monotonic() - started:.0f} s\n"
    )
    print(table(rows))
    if args.profile is not None:
        if args.profile.exists():
            print(f"\nWhere the bot's CPU went during the 5/s stream (py-spy, {args.profile}):")
            print(profile.summarise(args.profile))
        else:
            print("\nno profile: py-spy is not installed or could not attach to the bot")
    judged = [row for row in rows if row.met is not None]
    missed = [row.scenario for row in judged if not row.met]
    print(
        f"\ntargets met: {len(judged) - len(missed)}/{len(judged)}"
        + (f" (missed: {'; '.join(missed)})" if missed else "")
    )


if __name__ == "__main__":
    main()
