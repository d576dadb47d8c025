"""Readers and converters for annotated clinical corpora (BRAT standoff, PubTator)."""
