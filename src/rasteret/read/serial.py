"""One lock for rasterio calls made from rasteret's worker threads.

rasterio's rasterize and reproject enter ``warnings.catch_warnings()`` internally. That context
manager swaps the process-wide warning filters, so two threads inside it at once can leave a
stale ``ignore`` filter behind (silencing every later warning of the process) or let spurious
warnings through. Calls that may run concurrently therefore hold this lock.
"""

from __future__ import annotations

import threading

rasterio_lock = threading.Lock()
