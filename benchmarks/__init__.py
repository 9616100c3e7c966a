"""The geventws benchmark harness: ``python -m benchmarks.run`` (see benchmarks/README.md).

Not part of the test suite. Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
"""
