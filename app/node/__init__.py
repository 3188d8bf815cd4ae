"""The storage node role: stores blobs, serves them, and tells the master what it holds."""
