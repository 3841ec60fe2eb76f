"""store blobs."""
