"""The mentorship-attendance services; each runs with `python -m services.<name>`."""
