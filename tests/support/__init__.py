"""Helpers shared by the tests of one area (expansion, training runs, the
meta-test, the collective launcher). Helpers used all over the suite are in
``tests/helpers.py``, shared fixtures in ``tests/conftest.py``; no test
module imports another."""
