"""Shared prediction library for ticket enrichment: PII masking, features, model bundles.

Deployed inside ``functions/`` and imported by ``training/``; it may import only the standard
library, numpy and vaderSentiment (whose lexicon ships in the package): serving runs without
scikit-learn, scipy or skops. Modules: ``mask`` (PII placeholders),
``features`` (ticket fields -> model inputs, ``input_hash``), ``arraymodels`` (the fitted
models as plain arrays and JSON, and the numpy arithmetic that runs them), ``predictor`` (the
three heads), ``bundle`` (safe loading, checksums, hot reload), ``lexicon`` (VADER: the
sentiment fallback and features), ``language`` (the text's language), ``confidence`` (high /
medium / low per head), ``explain`` (the words and fields behind each prediction),
``errors`` (the exception tree).
"""
