"""Read models (scoreboard, audit log, dispute queue) built from the event store's notification log."""
