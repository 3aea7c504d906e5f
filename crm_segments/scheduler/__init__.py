"""Periodic jobs run by APScheduler 3 in one process at a time (see runner.py)."""
