"""Helpdesk stub: a local server speaking the Zendesk Tickets API subset the enrichment function uses.

Start it with ``python -m helpdesk``; build it in tests with ``helpdesk.app.create_app``. Imports nothing at import time.
"""
