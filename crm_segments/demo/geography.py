"""Places for demo profiles: country, region, city, IANA time zone, postal code and phone number.

Phone numbers come from the ranges regulators reserve for fiction where a country has one (North
America 555-01xx, the UK's 07700 900xxx, France's 06 39 98 xx xx, Australia's 5550 xxxx), so a
demo database wired to a real SMS provider does not text strangers. Emails use reserved domains
(example.com, *.example; RFC 2606) for the same reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from crm_segments.demo.sampling import Weighted, below, pick_one

# Letters valid in the inward part of a UK postcode.
_UK_INWARD = "ABDEFGHJLNPQRSTUWXYZ"
_CA_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Place:
    country: str  # ISO 3166-1 alpha-2
    region: str
    city: str
    time_zone: str  # IANA name
    postal_prefixes: tuple[str, ...]
    phone_areas: tuple[str, ...]
    culture: str  # which name pool fits: "en", "de", "fr"
    currency: str


def _us_postal(rng: random.Random, prefix: str) -> str:  # ZIP: 3-digit area prefix + 2 digits
    return f"{prefix}{below(rng, 100):02d}"


def _ca_postal(rng: random.Random, prefix: str) -> str:  # A1A 1A1, first letter by province
    letters = _CA_LETTERS
    return (f"{prefix}{below(rng, 10)}{letters[below(rng, len(letters))]} "
            f"{below(rng, 10)}{letters[below(rng, len(letters))]}{below(rng, 10)}")


def _uk_postal(rng: random.Random, prefix: str) -> str:  # outward code + 9AA
    return f"{prefix} {below(rng, 10)}{pick_one(rng, _UK_INWARD)}{pick_one(rng, _UK_INWARD)}"


def _digits_to(width: int) -> Callable[[random.Random, str], str]:
    def postal(rng: random.Random, prefix: str) -> str:
        rest = width - len(prefix)
        return prefix + f"{below(rng, 10 ** rest):0{rest}d}" if rest else prefix

    return postal


POSTAL_FORMATS: dict[str, Callable[[random.Random, str], str]] = {
    "US": _us_postal, "CA": _ca_postal, "GB": _uk_postal,
    "DE": _digits_to(5), "FR": _digits_to(5), "AU": _digits_to(4),
}


def phone_number(rng: random.Random, country: str, area: str) -> str:
    """An E.164 number (``+`` and at most 15 digits) in the country's fiction range."""
    if country in ("US", "CA"):
        return f"+1{area}55501{below(rng, 100):02d}"
    if country == "GB":
        return f"+447700900{below(rng, 1000):03d}"
    if country == "FR":
        return f"+3363998{below(rng, 10000):04d}"
    if country == "AU":
        return f"+61{area}5550{below(rng, 10000):04d}"
    # Germany has no reserved range; area code + a 555 exchange keeps it recognisably made up.
    return f"+49{area}555{below(rng, 10000):04d}"


def _places(country: str, currency: str, culture: str,
            rows: list[tuple[str, str, str, float, str, str]]) -> list[tuple[Place, float]]:
    """rows: (region, city, time zone, weight, postal prefixes, phone areas), space-separated lists."""
    return [
        (Place(country, region, city, tz, tuple(postal.split()), tuple(areas.split()), culture, currency),
         weight)
        for region, city, tz, weight, postal, areas in rows
    ]


_NY, _CHI, _DEN, _LA = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

_US = _places("US", "USD", "en", [
    ("California", "Los Angeles", _LA, 6.0, "900 901 902", "213 310 323"),
    ("California", "San Francisco", _LA, 3.0, "941", "415 628"),
    ("California", "San Diego", _LA, 2.5, "921", "619 858"),
    ("California", "Sacramento", _LA, 1.2, "958", "916"),
    ("California", "San Jose", _LA, 1.5, "951", "408 669"),
    ("Texas", "Houston", _CHI, 3.5, "770 772", "713 281 832"),
    ("Texas", "Dallas", _CHI, 3.0, "752", "214 469 972"),
    ("Texas", "Austin", _CHI, 2.0, "787", "512 737"),
    ("Texas", "San Antonio", _CHI, 2.0, "782", "210 726"),
    ("New York", "New York", _NY, 6.0, "100 101 102 112", "212 646 718 917"),
    ("New York", "Buffalo", _NY, 0.8, "142", "716"),
    ("New York", "Albany", _NY, 0.5, "122", "518"),
    ("Florida", "Miami", _NY, 2.5, "331", "305 786"),
    ("Florida", "Orlando", _NY, 1.5, "328", "407 321"),
    ("Florida", "Tampa", _NY, 1.5, "336", "813"),
    ("Illinois", "Chicago", _CHI, 3.5, "606", "312 773 872"),
    ("Illinois", "Springfield", _CHI, 0.3, "627", "217"),
    ("Washington", "Seattle", _LA, 2.0, "981", "206"),
    ("Washington", "Spokane", _LA, 0.5, "992", "509"),
    ("Colorado", "Denver", _DEN, 1.8, "802", "303 720"),
    ("Colorado", "Colorado Springs", _DEN, 0.6, "809", "719"),
    ("Arizona", "Phoenix", "America/Phoenix", 2.0, "850", "602 480 623"),
    ("Arizona", "Tucson", "America/Phoenix", 0.7, "857", "520"),
    ("Massachusetts", "Boston", _NY, 2.0, "021", "617 857"),
    ("Massachusetts", "Worcester", _NY, 0.4, "016", "508"),
    ("Georgia", "Atlanta", _NY, 2.2, "303", "404 470 678"),
    ("Georgia", "Savannah", _NY, 0.3, "314", "912"),
    ("Pennsylvania", "Philadelphia", _NY, 2.0, "191", "215 267"),
    ("Pennsylvania", "Pittsburgh", _NY, 0.9, "152", "412"),
    ("Ohio", "Columbus", _NY, 1.1, "432", "614"),
    ("Ohio", "Cleveland", _NY, 0.9, "441", "216"),
    ("Michigan", "Detroit", "America/Detroit", 1.3, "482", "313"),
    ("Michigan", "Grand Rapids", "America/Detroit", 0.5, "495", "616"),
    ("Minnesota", "Minneapolis", _CHI, 1.3, "554", "612"),
    ("Oregon", "Portland", _LA, 1.1, "972", "503 971"),
    ("North Carolina", "Charlotte", _NY, 1.2, "282", "704 980"),
    ("North Carolina", "Raleigh", _NY, 0.9, "276", "919 984"),
    ("Tennessee", "Nashville", _CHI, 1.0, "372", "615 629"),
    ("Nevada", "Las Vegas", _LA, 1.1, "891", "702 725"),
    ("Utah", "Salt Lake City", _DEN, 0.8, "841", "801 385"),
    ("Indiana", "Indianapolis", "America/Indiana/Indianapolis", 0.9, "462", "317"),
    ("Hawaii", "Honolulu", "Pacific/Honolulu", 0.4, "968", "808"),
    ("Alaska", "Anchorage", "America/Anchorage", 0.2, "995", "907"),
])

_CA = _places("CA", "CAD", "en", [
    ("Ontario", "Toronto", "America/Toronto", 3.0, "M", "416 647"),
    ("Ontario", "Ottawa", "America/Toronto", 1.0, "K", "613"),
    ("Ontario", "Hamilton", "America/Toronto", 0.6, "L", "905"),
    ("British Columbia", "Vancouver", "America/Vancouver", 1.8, "V", "604 778"),
    ("British Columbia", "Victoria", "America/Vancouver", 0.4, "V", "250"),
    ("Alberta", "Calgary", "America/Edmonton", 1.0, "T", "403 587"),
    ("Alberta", "Edmonton", "America/Edmonton", 0.9, "T", "780"),
    ("Manitoba", "Winnipeg", "America/Winnipeg", 0.5, "R", "204"),
    ("Saskatchewan", "Regina", "America/Regina", 0.2, "S", "306"),
    ("Nova Scotia", "Halifax", "America/Halifax", 0.3, "B", "902"),
    ("Newfoundland and Labrador", "St. John's", "America/St_Johns", 0.15, "A", "709"),
]) + _places("CA", "CAD", "fr", [
    ("Quebec", "Montreal", "America/Toronto", 1.8, "H", "514 438"),
    ("Quebec", "Quebec City", "America/Toronto", 0.6, "G", "418 581"),
])

_GB = _places("GB", "GBP", "en", [
    ("England", "London", "Europe/London", 5.0, "SW1A E1 N1 SE1 W1 NW1 EC1 SW11 E14", "20"),
    ("England", "Manchester", "Europe/London", 1.2, "M1 M4 M20", "161"),
    ("England", "Birmingham", "Europe/London", 1.2, "B1 B15 B29", "121"),
    ("England", "Bristol", "Europe/London", 0.6, "BS1 BS8", "117"),
    ("England", "Leeds", "Europe/London", 0.7, "LS1 LS6", "113"),
    ("Scotland", "Edinburgh", "Europe/London", 0.6, "EH1 EH3", "131"),
    ("Scotland", "Glasgow", "Europe/London", 0.7, "G1 G12", "141"),
    ("Wales", "Cardiff", "Europe/London", 0.4, "CF10 CF11", "29"),
    ("Northern Ireland", "Belfast", "Europe/London", 0.3, "BT1 BT7", "28"),
])

_DE = _places("DE", "EUR", "de", [
    ("Berlin", "Berlin", "Europe/Berlin", 2.0, "10 12 13", "30"),
    ("Bavaria", "Munich", "Europe/Berlin", 1.6, "80 81", "89"),
    ("Bavaria", "Nuremberg", "Europe/Berlin", 0.6, "90", "911"),
    ("Hamburg", "Hamburg", "Europe/Berlin", 1.2, "20 21 22", "40"),
    ("Hesse", "Frankfurt am Main", "Europe/Berlin", 1.0, "60", "69"),
    ("North Rhine-Westphalia", "Cologne", "Europe/Berlin", 1.1, "50 51", "221"),
    ("North Rhine-Westphalia", "Düsseldorf", "Europe/Berlin", 0.7, "40", "211"),
    ("Baden-Württemberg", "Stuttgart", "Europe/Berlin", 0.8, "70", "711"),
])

_FR = _places("FR", "EUR", "fr", [
    ("Île-de-France", "Paris", "Europe/Paris", 3.0, " ".join(f"750{i:02d}" for i in range(1, 21)), ""),
    ("Auvergne-Rhône-Alpes", "Lyon", "Europe/Paris", 1.0, "6900", ""),
    ("Provence-Alpes-Côte d'Azur", "Marseille", "Europe/Paris", 1.0, "1300 1301", ""),
    ("Provence-Alpes-Côte d'Azur", "Nice", "Europe/Paris", 0.5, "0600 0610", ""),
    ("Occitanie", "Toulouse", "Europe/Paris", 0.8, "3100 3110", ""),
    ("Nouvelle-Aquitaine", "Bordeaux", "Europe/Paris", 0.7, "3300 3310 3320", ""),
    ("Hauts-de-France", "Lille", "Europe/Paris", 0.6, "5900 5980", ""),
])

_AU = _places("AU", "AUD", "en", [
    ("New South Wales", "Sydney", "Australia/Sydney", 3.0, "20 21", "2"),
    ("Victoria", "Melbourne", "Australia/Melbourne", 2.7, "30 31", "3"),
    ("Queensland", "Brisbane", "Australia/Brisbane", 1.6, "40 41", "7"),
    ("Western Australia", "Perth", "Australia/Perth", 1.2, "60 61", "8"),
    ("South Australia", "Adelaide", "Australia/Adelaide", 0.8, "50 51", "8"),
    ("Tasmania", "Hobart", "Australia/Hobart", 0.3, "70", "3"),
    ("Australian Capital Territory", "Canberra", "Australia/Sydney", 0.4, "260", "2"),
])


def _share(places: list[tuple[Place, float]], share: float) -> list[tuple[Place, float]]:
    """Scale a country's city weights so the country gets ``share`` of all profiles."""
    total = sum(weight for _, weight in places)
    return [(place, share * weight / total) for place, weight in places]


PLACES: Weighted[Place] = Weighted(
    _share(_US, 0.55) + _share(_CA, 0.10) + _share(_GB, 0.11) + _share(_DE, 0.08)
    + _share(_FR, 0.07) + _share(_AU, 0.09)
)

# Rough exchange rates from the catalog's USD list prices to local prices.
FX_FROM_USD = {"USD": 1.0, "CAD": 1.36, "GBP": 0.79, "EUR": 0.92, "AUD": 1.52}
