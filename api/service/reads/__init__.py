"""The use cases that read (queries): from the views, never writing, never catching up themselves."""
