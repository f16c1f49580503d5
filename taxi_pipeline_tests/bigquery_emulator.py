"""Starts bqemulator (run with the emulator's own venv python) with one workaround.

bqemulator 1.4.0 rejects the media type google-cloud-bigquery uses for small DataFrame
loads (under 5 MB, sent as a multipart upload); allowing any media type lets them in.
"""

import sys

import bqemulator.api.routes.upload as upload
from bqemulator.cli import main

upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")

if __name__ == "__main__":
    sys.exit(main())
