"""Batch training of the enrichment model: demo data, export files, heads, evaluation, bundles.

Run ``python -m training --help``. It may import ticketml (the serving code it trains for),
scikit-learn, numpy, scipy, skops, tqdm and matplotlib (plots, Agg backend); nothing here
runs in the request path. Dataset mappings ship in ``training/mappings/``.
"""
