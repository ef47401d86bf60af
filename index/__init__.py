"""Articles in: loaders -> articles -> chunks -> embeddings -> Chroma and BM25.

This package never imports ``qa_service``; every part takes plain constructor
arguments so it can be used (and tested) on its own.
"""
