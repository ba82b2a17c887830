"""kaohe's domain: the rubric, findings, scoring and the event-sourced aggregates. No I/O here."""
