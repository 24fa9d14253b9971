"""Parameter sweeps (`foreach`): item expansion, item templates, the S3 layout of item lists
and chunk manifests, and per-item bookkeeping. See docs/sweeps.md.

Submodules are imported where needed: `template` and `child` run inside task images that
have only boto3, so this package imports nothing at all.
"""
