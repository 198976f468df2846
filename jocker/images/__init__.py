"""The image store: layers as ZFS datasets, images as snapshots with metadata."""
