"""Time: APScheduler jobs (escalations, outbox ticks) and office hours."""
