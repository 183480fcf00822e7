"""Scheduler: publishes `sweep.tick` every SWEEP_INTERVAL_SECONDS; owns the time of the last tick.

One tick per interval even with several replicas: the leader holds a
PostgreSQL advisory lock, and each tick re-checks the last one under a row lock.
"""
