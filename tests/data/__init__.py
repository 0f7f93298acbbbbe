"""Tests of the data layer: dataset loaders, mappers, affine crops, metadata, the synthetic generator."""
