"""The sizes, durations and time budget of the quick and the full run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    mode: str
    # Wall-clock budget of the whole run. Every benchmark runs at least once;
    # repetitions, profiles and the optional sizes stop when it runs short.
    budget_seconds: float
    burst_sizes: tuple[int, ...]
    burst_reps: int
    aps_sql_burst_sizes: tuple[int, ...]
    aps_mem_burst_sizes: tuple[int, ...]
    # Ours (and the ceiling) only, after everything else, if time is left.
    optional_burst_sizes: tuple[int, ...]
    # Seconds each system's repetitions of one burst size may take.
    burst_slice: float
    steady_triggers: int
    steady_seconds: float
    aps_steady_seconds: float
    floor_seconds: float
    steady_window: float
    startup_triggers: int
    startup_reps: int
    api_triggers: int
    api_duration: float
    api_reps: int
    login_duration: float
    rebuild_events: int
    rebuild_reps: int
    rebuild_slice: float
    replay_firings: int
    replay_reps: int
    # At the rebuild's size, set up reuses its store and builds the live read
    # models (half a minute for 1M); each run compacts a fresh copy of it.
    compaction_events: int
    compaction_reps: int
    compaction_slice: float
    profile: bool
    profile_seconds: float


QUICK = Config(
    mode="quick",
    budget_seconds=100,
    burst_sizes=(1_000,),
    burst_reps=3,
    aps_sql_burst_sizes=(1_000,),
    aps_mem_burst_sizes=(1_000,),
    optional_burst_sizes=(),
    burst_slice=12,
    steady_triggers=10_000,
    steady_seconds=10,
    aps_steady_seconds=7.5,
    floor_seconds=5,
    steady_window=2.5,
    startup_triggers=20_000,
    startup_reps=3,
    api_triggers=1_000,
    api_duration=0.8,
    api_reps=2,
    login_duration=0.8,
    rebuild_events=100_000,
    rebuild_reps=2,
    rebuild_slice=12,
    replay_firings=10_000,
    replay_reps=3,
    compaction_events=50_000,
    compaction_reps=2,
    compaction_slice=6,
    profile=False,
    profile_seconds=2,
)

FULL = Config(
    mode="full",
    budget_seconds=565,
    burst_sizes=(1_000, 10_000),
    burst_reps=3,
    aps_sql_burst_sizes=(1_000, 10_000),
    aps_mem_burst_sizes=(1_000, 10_000),
    optional_burst_sizes=(100_000,),
    burst_slice=60,
    steady_triggers=10_000,
    steady_seconds=120,
    aps_steady_seconds=40,
    floor_seconds=20,
    steady_window=20,
    startup_triggers=100_000,
    startup_reps=3,
    api_triggers=1_000,
    api_duration=1.5,
    api_reps=3,
    login_duration=1.5,
    rebuild_events=1_000_000,
    rebuild_reps=3,
    rebuild_slice=90,
    replay_firings=10_000,
    replay_reps=5,
    compaction_events=1_000_000,
    compaction_reps=3,
    compaction_slice=45,
    profile=True,
    profile_seconds=3,
)
