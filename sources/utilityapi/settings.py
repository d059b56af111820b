"""Constants of the UtilityAPI v2 contract and the connector's defaults."""

from __future__ import annotations

BASE_URL = "https://utilityapi.com/api/v2"

# Help centre: 50 requests/s per account by default, raisable by arrangement.
DEFAULT_RATE_LIMIT = 50.0
# Docs: at most 1000 objects per list page.
MAX_PAGE_SIZE = 1000
# Interval objects each hold a chunk of readings (days to weeks), so a page of 1000 can weigh
# hundreds of MB; pages of ~2 MB keep memory low and flat while requests stay few.
INTERVALS_PAGE_SIZE = 20
# Docs (availability): get a meter's bills or intervals no more than once a minute.
METER_REFETCH_SECONDS = 60.0

# Pages are gathered into batches of about this many readings before dlt writes them.
READINGS_BATCH_ROWS = 250_000
# Parsed pages waiting for dlt, and pages parsed at once (a 2-core machine gains nothing
# from more, and each parse holds several times its page in memory).
READINGS_PENDING_PAGES = 8
PARSE_THREADS = 2

DEFAULT_LOOKBACK_DAYS = 7
DEFAULT_MAX_CONCURRENCY = 16
# Uids per list filter (bills by meters, meters by uids); keeps URLs far below 8 KB.
UIDS_PER_FILTER = 100
BILLS_METERS_PER_REQUEST = UIDS_PER_FILTER

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
MAX_RETRIES = 6
MAX_RATE_LIMITED_RETRIES = 20
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# A Retry-After longer than this is an account problem, not a pause worth sleeping through.
MAX_RETRY_AFTER_SECONDS = 300.0

NOT_ACTIVATED_MESSAGE = "Service exists, but no logs yet."
# Strings some payloads use where JSON null was meant (seen in hand-made fixtures).
NULL_STRINGS = frozenset({"null", "nil", "none", ""})
