"""Attendance: marks (system or mentor), absence streaks, reprobation and the absence policy.

It keeps its own copy of the schedule (from `bookings.scheduled` and
`bookings.cancelled`) and of each subscription's mentee and cycle, and is the
source of truth for whether a mentee attended.
"""
