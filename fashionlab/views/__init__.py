"""Results in, text and pictures out: terminal tables, figures (PNG), the lab report, progress displays.

No training and no Keras here; views read runs through the store and numbers through metrics.
"""
