"""Reading, checking and caching the look-alike stage files: the feature
schema, the safe unpickler, the columnar cache, frame writers."""
