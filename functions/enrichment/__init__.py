"""The enrichment pipeline behind `functions/main.py`: validate, predict, write back, forward.

May import ticketml (the model), firebase-admin, requests; nothing from the rest of the repo,
because this folder is deployed on its own.
"""
