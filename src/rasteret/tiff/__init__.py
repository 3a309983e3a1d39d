"""TIFF/COG layer: header parsing, decoding and window reads; knows nothing of collections."""
