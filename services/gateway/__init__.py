"""The HTTP edge: JSON API, mentor dashboard, Stripe webhooks and auth.

Owns nothing durable. Reads and mentor commands go to the owning service as
RabbitMQ request/reply; joins, sweeps and subscription events are published
as events. The gateway is one of the two places allowed to read the clock.
"""
