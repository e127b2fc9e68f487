"""What operators run after an outage: backfill, status."""
