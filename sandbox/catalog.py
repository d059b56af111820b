"""Fixed vocabulary of the generated world: utilities with their zones, and kinds of meters."""

from __future__ import annotations

from dataclasses import dataclass

FILES_BASE = "https://utilityapi.com/api/v2/files"
USER_UID = "1337"
USER_EMAIL = "sandbox@example.com"


@dataclass(frozen=True)
class Utility:
    uid: str
    zone: str
    city: str
    res_tariff: str
    comm_tariff: str
    gas_tariff: str | None


UTILITIES: dict[str, Utility] = {
    u.uid: u
    for u in (
        Utility("PG&E", "America/Los_Angeles", "OAKLAND, CA 94612", "E-TOU-C", "B-19", "G1"),
        Utility(
            "SCE", "America/Los_Angeles", "LONG BEACH, CA 90802", "TOU-D-PRIME", "TOU-GS-2", None
        ),
        Utility("EVRSRCMA", "America/New_York", "BOSTON, MA 02118", "R1/EMA", "G2/EMA", "R3"),
        Utility("COMED", "America/Chicago", "CHICAGO, IL 60614", "BES-RES", "BES-NONRES", None),
        Utility("SRP", "America/Phoenix", "TEMPE, AZ 85281", "E-23", "E-32", None),
        Utility(
            "DEMO",
            "America/Los_Angeles",
            "ANYTOWN, CA 94612",
            "E1 XB Residential Service",
            "A-10",
            "G1",
        ),
        Utility("SDG&E", "America/Los_Angeles", "SAN DIEGO, CA 92101", "TOU-DR1", "AL-TOU", "GR"),
        Utility("LADWP", "America/Los_Angeles", "LOS ANGELES, CA 90012", "R-1A", "A-2", None),
    )
}

# Order in which generated authorizations cycle through utilities.
WORLD_UTILITIES = ("PG&E", "SCE", "SRP", "EVRSRCMA", "COMED", "DEMO")


@dataclass(frozen=True)
class MeterKind:
    name: str
    duration: int  # seconds per primary reading
    service_class: str
    unit: str  # unit of net/fwd/rev
    datapoints: tuple[str, ...]  # in the order readings list them
    base_kw: tuple[float, float]  # average load range (therms/h for gas)
    solar_kw: tuple[float, float] = (0.0, 0.0)
    fill_ins: bool = False  # hourly fill-in chunks cover its gaps
    chunk_days: int = 4  # span of historical Interval objects

    @property
    def is_gas(self) -> bool:
        return self.unit == "therms"

    @property
    def is_commercial(self) -> bool:
        return self.service_class.startswith("comm")


KINDS: dict[str, MeterKind] = {
    k.name: k
    for k in (
        # Like the live EVRSRCMA payload: net, max (kW) and fwd on every reading.
        MeterKind(
            "res15", 900, "res-electric", "kwh", ("net", "max", "fwd"), (0.35, 0.9), fill_ins=True
        ),
        MeterKind("res60", 3600, "res-electric", "kwh", ("net",), (0.4, 1.1), chunk_days=7),
        MeterKind(
            "comm15", 900, "comm-electric", "kwh", ("net", "max"), (18.0, 90.0), fill_ins=True
        ),
        MeterKind(
            "solar15",
            900,
            "res-electric",
            "kwh",
            ("net", "fwd", "rev"),
            (0.4, 1.0),
            solar_kw=(3.5, 7.5),
        ),
        MeterKind("gas60", 3600, "res-gas", "therms", ("net",), (0.03, 0.12), chunk_days=7),
    )
}

WORLD_KIND_CYCLE = ("res15", "comm15", "solar15", "res60", "gas60")

TEST_SCENARIOS = (
    "residential",
    "commercial",
    "badlogin",
    "badlogin_after",
    "websitedown",
    "websitedown_after",
    "utilityerror",
)

STREET_NAMES = (
    "MAIN ST",
    "OAK AVE",
    "BROADWAY",
    "PINE ST",
    "ELM DR",
    "LAKE RD",
    "HILL BLVD",
    "MARKET ST",
    "CEDAR LN",
    "PARK AVE",
)
CONTACT_NAMES = (
    "JORDAN LEE",
    "SAM RIVERA",
    "ALEX CHEN",
    "PAT MORGAN",
    "ACME, INC.",
    "PLANET EXPRESS LLC",
    "CASEY NGUYEN",
    "ROBIN PATEL",
)
