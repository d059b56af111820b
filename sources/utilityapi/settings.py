"""Constants of the UtilityAPI v2 contract and the connector's defaults."""

from __future__ import annotations

BASE_URL = "https://utilityapi.com/api/v2"

# Help centre: 50 requests/s per account by default, raisable by arrangement.
DEFAULT_RATE_LIMIT = 50.0
# Docs: at most 1000 objects per list page.
MAX_PAGE_SIZE = 1000
# Interval objects each hold a chunk of readings (days to weeks), so a page of 1000 can weigh a
# hundred MB: pages are read as they stream, in batches of whole objects, never held whole.
INTERVALS_PAGE_SIZE = MAX_PAGE_SIZE
# Docs (availability): get a meter's bills or intervals no more than once a minute.
METER_REFETCH_SECONDS = 60.0

# Pages are gathered into batches of about this many readings before dlt writes them; a batch
# is held about three times over (pages, the joined table, the Parquet writer's buffer), so
# 100 k readings (~15 MB each time) kept a load's peak ~60 MB below 250 k at the same speed,
# and 50 k another ~19 MiB below 100 k (scenario 1, 3 interleaved runs each: 527-543 MiB
# against 538-571, 33.6 s against 34.0).
READINGS_BATCH_ROWS = 50_000
# Parsed batches (readings.BATCH_BYTES of JSON each) alive at once, from parsing until dlt's
# thread takes them, and batches parsed at once (a 2-core machine gains nothing from more, and
# each parse holds several times its batch in memory).
READINGS_PENDING_BATCHES = 6
PARSE_THREADS = 2
# Parsed batches the next checkpoint step's meters may hold while the current step finishes
# (intervals.FetchAhead): enough that its first answers are in when it begins.
READINGS_AHEAD_BATCHES = 2
# Pages of the events listing read ahead of dlt taking them (pages.read_ahead): dlt takes them
# only between the readings' batches, and each page waits its turn on the link behind the
# interval pages. A page of 1000 events is ~200 KB of JSON.
EVENTS_PAGES_AHEAD = 4

DEFAULT_LOOKBACK_DAYS = 7
# uapi loads commit in steps: each run of the source takes at most this many meters, or stops
# taking new ones after this many minutes of fetching, so a crash loses at most one step.
CHECKPOINT_METERS = 50
CHECKPOINT_MINUTES = 5.0
# ... or once it has taken this many readings by the meter listing's counts: each step is
# loaded while the next is fetched, so a small step keeps the warehouse's share of memory small
# and leaves little to load after the last page. Smaller steps cost time: in `make bench` 300 k
# steps peaked at 642 MiB instead of 671 at 500 k on the 10.6 M-reading backfill, but took
# 41.8 s instead of 38.4 (bench/README.md, "Where the targets stand").
CHECKPOINT_READINGS = 500_000
# Requests in flight at once. Pages of 1000 objects take one request per meter, so the rate
# limit is far off: what bounds a load is the link and the CPU. Each response in flight holds a
# batch or two of its page (readings.BATCH_BYTES): 32 held ~950 MiB on a 10 M-reading backfill,
# 8 ~500 MiB, in the same time. When a load fetches ahead across checkpoint steps, intervals
# use one less, so the step's listings and bills always find a connection (intervals.py).
DEFAULT_MAX_CONCURRENCY = 8
# Uids per list filter (bills by meters, meters by uids); keeps URLs far below 8 KB.
UIDS_PER_FILTER = 100
BILLS_METERS_PER_REQUEST = UIDS_PER_FILTER

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
# A whole response must arrive within this (the read timeout only bounds each gap), and be no
# larger than this: an intervals page of the default size weighs a few MB, a listing of 1000
# meters or bills ~5-10 MB.
REQUEST_DEADLINE_SECONDS = 300.0
MAX_RESPONSE_BYTES = 128 * 1024 * 1024
MAX_RETRIES = 6
MAX_RATE_LIMITED_RETRIES = 20
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# A Retry-After longer than this is an account problem, not a pause worth sleeping through.
MAX_RETRY_AFTER_SECONDS = 300.0

NOT_ACTIVATED_MESSAGE = "Service exists, but no logs yet."
# Strings some payloads use where JSON null was meant (seen in hand-made fixtures).
NULL_STRINGS = frozenset({"null", "nil", "none", ""})
