"""The first-visit benchmark's reading of a Chrome trace: the visited page's main-thread CPU (``--main-thread``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from first_visit import main_thread_cpu_s  # noqa: E402


def thread(pid: int, tid: int, name: str) -> dict:
    return {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}


def task(pid: int, tid: int, name: str, tdur_us: int, dur_us: int = 10**6) -> dict:
    return {"ph": "X", "name": name, "pid": pid, "tid": tid, "dur": dur_us, "tdur": tdur_us}


def test_the_busiest_renderer_main_thread_counts_by_its_cpu_time_not_its_wall_time():
    events = [thread(1, 1, "CrRendererMain"), thread(2, 2, "CrRendererMain"), thread(3, 3, "CrBrowserMain"),
              thread(1, 9, "ThreadPoolForegroundWorker"),
              task(1, 1, "ThreadControllerImpl::RunTask", 400_000),
              task(1, 1, "BlinkScheduler_PerformMicrotaskCheckpoint", 300_000),
              task(1, 1, "v8.callFunction", 250_000),  # nested in a task: not counted twice
              task(2, 2, "ThreadControllerImpl::RunTask", 50_000),  # another tab's idle renderer
              task(3, 3, "ThreadControllerImpl::RunTask", 900_000),  # the browser process
              task(1, 9, "ThreadControllerImpl::RunTask", 800_000)]  # a worker of the page's renderer
    assert main_thread_cpu_s(events) == pytest.approx(0.7)


def test_a_trace_without_a_renderer_reads_as_no_cpu():
    assert main_thread_cpu_s([thread(3, 3, "CrBrowserMain"), task(3, 3, "ThreadControllerImpl::RunTask", 5)]) == 0.0
