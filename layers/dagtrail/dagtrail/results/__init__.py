"""Where task outputs live: the S3 layout, manifests, and the store that reads them."""

from dagtrail.results.layout import output_prefix, split_uri
from dagtrail.results.manifest import Manifest, ManifestEntry

__all__ = ["output_prefix", "split_uri", "Manifest", "ManifestEntry"]
