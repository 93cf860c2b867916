"""The only code that imports keras, jax, tensorflow or torch: backend selection, building models, the
fused JAX loop, training with its run recorder (fit, resume), and inference (evaluate, predict, export).

Modules import the frameworks inside their functions, so importing them costs no framework start-up.
"""
