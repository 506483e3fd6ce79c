"""Shared prediction library for ticket enrichment: PII masking, features, model bundles.

Deployed inside ``functions/`` and imported by ``training/``; it may import only the standard
library, numpy, scipy, scikit-learn and skops. Modules: ``mask`` (PII placeholders),
``features`` (ticket fields -> model inputs, ``input_hash``), ``predictor`` (the three heads),
``bundle`` (safe loading, checksums, hot reload), ``lexicon`` (untrained sentiment fallback),
``errors`` (the exception tree).
"""
