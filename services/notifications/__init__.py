"""Notifications: contacts (from `subscription.*`) and every email sent or failed to send.

Emails for warnings and reprobations go to mentee and mentor; a reactivation
goes to the mentee with the mentor in Cc. Each event sends at most one email
per recipient, whatever the redeliveries.
"""
