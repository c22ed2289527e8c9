"""ImageNet-S sets: any image dataset stored as every decoder x resizer variant, ready to evaluate.

`generate` writes a set, `verify` re-hashes it, `ImageNetS` reads one variant as a torch Dataset,
and `evaluate.run_stored_bench` evaluates a model on stored variants through the bench.
"""
