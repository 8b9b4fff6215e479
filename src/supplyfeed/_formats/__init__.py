"""Decoders: payload bytes in, canonical documents out. One module per format."""
