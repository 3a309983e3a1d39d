"""Building collections: STAC searches, static catalogs and record tables, the header pass,
normalisation to the collection schema and the on-disk format."""
