"""GDAL configuration of the tuned rasterio contender (constants only, so reports can cite them)."""

TUNED_GDAL = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "CPL_VSIL_CURL_CACHE_SIZE": "200000000",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "50000000",
    "GDAL_CACHEMAX": "512",
    "GDAL_NUM_THREADS": "ALL_CPUS",
}
THREADS = 32  # files read at once (GDAL releases the GIL while it waits on I/O)
