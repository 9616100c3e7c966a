"""One module per client kind. Each has ``RUNTIME`` ("gevent" or "asyncio"), ``LABEL``,
and ``adapter()`` for the driver of its runtime (benchmarks/gdriver.py or
benchmarks/adriver.py); it may override a scenario by defining a function of the
same name. What each needs installed is in benchmarks/run.py (REQUIRES).

KINDS lists them in the order of the table.
"""

KINDS = ["wsclient", "geventws", "websockets", "aiohttp", "picows", "floor"]
