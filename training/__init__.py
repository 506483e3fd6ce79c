"""Batch training of the enrichment model: demo data, export files, heads, evaluation, bundles.

Run ``python -m training --help``. It may import ticketml (the serving code it trains for),
scikit-learn, numpy, scipy, tqdm and matplotlib (plots, Agg backend); nothing here
runs in the request path. Bundles hold no scikit-learn objects: ``export`` converts the
fitted estimators into ``ticketml.arraymodels``, which is what serving loads and runs.
Dataset mappings ship in ``training/mappings/``.
"""
