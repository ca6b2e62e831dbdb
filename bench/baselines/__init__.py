"""Baselines that blobstore's figures are divided by, each measured in the same run."""
