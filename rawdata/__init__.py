"""The raw Tencent 2018 Look-alike competition files: reading them
(``files``, ``user_parser``), re-indexing their ids densely (``reindex``)
and turning them into MetaHeac's released stage files (``pipeline``, the
library behind ``tools/preprocess.py``)."""
