"""Defaults of the model's settings, importable without torch (the pipeline's config reads them)."""

#: Analyses' default ``attention_window`` (snippets): every shipped clip and the 10-minute Big Buck Bunny
#: (600 snippets) get the full attention; the adaptive grid caps a video at 1800 snippets, and a fixed
#: stride can give up to 20,000, where full attention would hold T x T maps (1.3 GB each at 18,000).
DEFAULT_ATTENTION_WINDOW = 1024
