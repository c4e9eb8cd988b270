"""The dataset engine: a spec becomes a plan once, then batches are array code.

constraint -> plan -> windows -> gather/pack + labels -> BatchData

Imports the catalog, never the RPC layer or ingest.
"""
