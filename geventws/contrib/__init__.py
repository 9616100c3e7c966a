"""Integrations with other tools, each behind its own extra (``geventws[locust]``…).

Importing ``geventws`` never imports these; import the submodule you need.
"""
