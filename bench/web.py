"""Web environment speed: episode reset time and steps per second, browser mode and text mode.

    .venv/bin/python bench/web.py [--rounds 3] [--out bench/results/web.md]

Each round plays every shipped task's oracle once in each mode (the modes alternate task by task,
so a load spike on a shared machine hits both alike). Timed separately:
- reset: ``env.reset(options={"task": t})``: ends the previous episode, copies the seeded
  database, starts the site's server on a fresh port, opens a driver (browser mode: a new browser
  context and page), signs in where the task says so, loads the start page and observes it;
- step: ``env.step(action)`` for the oracle's actions, the last (``answer``, which also judges
  the site) included; steps/s = steps / total step time.
The browser is launched once per env (reported apart). Every episode must score 1, else the
benchmark stops. Targets (issue 10): reset < 300 ms; text mode >= 20x browser mode per step.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import assay
from assay.envs.web.tasks import load_tasks


def play(env, task, resets: list[float], steps: list[float]) -> None:
    t0 = time.perf_counter()
    env.reset(options={"task": task})
    resets.append(time.perf_counter() - t0)
    for _ in range(40):
        action = env.unwrapped.oracle_action()  # the oracle's choice is not timed
        t0 = time.perf_counter()
        _, reward, terminated, truncated, info = env.step(action)
        steps.append(time.perf_counter() - t0)
        if terminated or truncated:
            if reward != 1.0:
                sys.exit(f"{task.id} scored {reward}: {info['verdict'].feedback}")
            return
    sys.exit(f"{task.id}: oracle did not finish")


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "web.md"))
    args = parser.parse_args()
    tasks = load_tasks()
    load_start = os.getloadavg()[0]
    envs = {"text": assay.make("assay/web-v0", mode="text"), "browser": assay.make("assay/web-v0", mode="browser")}
    t0 = time.perf_counter()
    envs["browser"].reset(options={"task": tasks[0]})  # launches Chromium
    launch = time.perf_counter() - t0
    for env in envs.values():  # warm-up: builds each site's seeded template database once
        for task in tasks[:1] + tasks[11:12] + tasks[21:22]:
            play(env, task, [], [])
    resets = {m: [] for m in envs}
    steps = {m: [] for m in envs}
    for _ in range(args.rounds):
        for task in tasks:
            for mode, env in envs.items():
                play(env, task, resets[mode], steps[mode])
    for env in envs.values():
        env.close()
    load_end = os.getloadavg()[0]

    rows, per_step = [], {}
    for mode in envs:
        r, s = resets[mode], steps[mode]
        per_step[mode] = sum(s) / len(s)
        rows.append(f"| {mode} | {1000 * statistics.median(r):.1f} | {1000 * pct(r, 0.9):.1f} | {1000 * max(r):.1f} | "
                    f"{len(s) / sum(s):.1f} | {1000 * statistics.median(s):.2f} | {len(r)} | {len(s)} |")
    ratio = per_step["browser"] / per_step["text"]
    worst_reset = max(statistics.median(resets[m]) for m in envs)
    command = "`.venv/bin/python bench/web.py" + (f" --rounds {args.rounds}" if args.rounds != 3 else "") + "`"
    report = f"""# Web environment benchmark (assay/web-v0)

Command: {command}  
Machine: {platform.node() and 'vm'}, {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}  
Browser: Debian chromium (headless) through Playwright; launched once per env in {launch * 1000:.0f} ms (not in the figures)  
Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M+00:00')}  
Load average (1 min) at the start: {load_start:.1f}, at the end: {load_end:.1f}

| mode | reset median ms | reset p90 ms | reset max ms | steps/s | step median ms | episodes | steps |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Episodes: the oracle of each of the {len(tasks)} shipped tasks, {args.rounds} round(s), every one scored 1.
A step is one `env.step(action)`: the action, the page load it causes, the observation; the last
step of an episode also ends it and judges the site.

## Targets

- reset < 300 ms: median {1000 * worst_reset:.0f} ms in the slower mode ({'met' if worst_reset < 0.3 else 'not met'})
- text mode >= 20x faster per step than browser mode: {ratio:.1f}x ({'met' if ratio >= 20 else 'not met'})
"""
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
