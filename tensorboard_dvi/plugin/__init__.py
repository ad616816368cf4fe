"""The TensorBoard plugin backend (import-light: see loader.py)."""
