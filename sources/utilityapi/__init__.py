"""The UtilityAPI v2 dlt source."""
