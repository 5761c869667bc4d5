"""Scheduler metrics (``prometheus-client``): leadership and job runs; served by the bot's /metrics."""

from prometheus_client import Counter, Gauge

LEADER = Gauge("minqing_scheduler_leader", "1 while this process leads the scheduler")
JOB_RUNS = Counter("minqing_job_runs_total", "Scheduled job runs, by job and outcome", ["job", "outcome"])
