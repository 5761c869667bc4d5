"""APScheduler wiring and the jobs: digests and overdue alerts (see ``schedules.scheduler``)."""

from schedules.scheduler import SchedulerHandle, run_scheduler, start_scheduler

__all__ = ["SchedulerHandle", "run_scheduler", "start_scheduler"]
