"""Support for the Gradio app (``app.py``): per-visitor sessions and files, plain messages, limits."""
