"""What every service shares: settings, logging, database, broker, outbox, inbox.

One copy, imported by every service, so that knowing one service means
knowing all of them.
"""
