"""Real-broker test harness: see ``tests/harness/kafka.py``."""
