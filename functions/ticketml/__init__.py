"""Shared prediction library for ticket enrichment: PII masking, features, model bundles.

Deployed inside ``functions/`` and imported by ``training/``; it may import only the standard
library, numpy, scipy, scikit-learn, skops and vaderSentiment (whose lexicon ships in the
package). Modules: ``mask`` (PII placeholders),
``features`` (ticket fields -> model inputs, ``input_hash``), ``predictor`` (the three heads),
``bundle`` (safe loading, checksums, hot reload), ``lexicon`` (VADER: the sentiment fallback and features),
``errors`` (the exception tree).
"""
