from __future__ import annotations

from blobstore.cli import main

raise SystemExit(main())
