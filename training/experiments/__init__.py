"""One-off measurements behind the README's model decisions (not used by training or serving)."""
