"""The use cases that change the history (commands), one module per part of the assessment."""
