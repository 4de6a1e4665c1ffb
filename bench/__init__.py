"""The side-by-side benchmark (``python bench/run.py``); see bench/README.md."""
