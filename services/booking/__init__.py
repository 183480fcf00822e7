"""Booking: subscriptions (cycle, weekly slot, status) and their bookings.

It turns a subscription's weekly slot into bookings, records attendance on
them, sweeps past bookings nobody attended, cancels the rest of a cycle on
reprobation or when the subscription ends, and regenerates bookings on
reactivation.
"""
