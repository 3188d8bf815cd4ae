"""Content-addressed blob storage (no Flask): the engine a storage node keeps its blobs in."""
