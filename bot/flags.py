"""Country flags: an English country name (as providers spell it) → ISO-3166 alpha-2 → emoji.

Providers give countries as numeric ids with names, never ISO codes, so the flag is found by
name. The table is hand-written; spellings seen at sms-activate style providers ("USA (virtual)",
"Kazakhstan", "Ivory Coast", "DR Congo") are folded onto their ISO code. Unknown → 🌐.
"""

from __future__ import annotations

import re
from functools import lru_cache

FALLBACK_FLAG = "🌐"

# English name (lower case, without parenthesised notes) -> ISO-3166 alpha-2.
_ISO_BY_NAME: dict[str, str] = {
    "afghanistan": "AF", "albania": "AL", "algeria": "DZ", "andorra": "AD", "angola": "AO",
    "anguilla": "AI", "antigua and barbuda": "AG", "antigua": "AG", "argentina": "AR",
    "armenia": "AM", "aruba": "AW", "australia": "AU", "austria": "AT", "azerbaijan": "AZ",
    "bahamas": "BS", "bahrain": "BH", "bangladesh": "BD", "barbados": "BB", "belarus": "BY",
    "belgium": "BE", "belize": "BZ", "benin": "BJ", "bhutan": "BT", "bolivia": "BO",
    "bosnia and herzegovina": "BA", "bosnia": "BA", "botswana": "BW", "brazil": "BR",
    "brunei": "BN", "brunei darussalam": "BN", "bulgaria": "BG", "burkina faso": "BF",
    "burundi": "BI", "cambodia": "KH", "cameroon": "CM", "canada": "CA", "cape verde": "CV",
    "cayman islands": "KY", "central african republic": "CF", "chad": "TD", "chile": "CL",
    "china": "CN", "colombia": "CO", "comoros": "KM", "congo": "CG",
    "republic of the congo": "CG", "dr congo": "CD", "democratic republic of the congo": "CD",
    "congo (dem. republic)": "CD", "costa rica": "CR", "croatia": "HR", "cuba": "CU",
    "cyprus": "CY", "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "djibouti": "DJ",
    "dominica": "DM", "dominican republic": "DO", "ecuador": "EC", "egypt": "EG",
    "el salvador": "SV", "salvador": "SV", "equatorial guinea": "GQ", "eritrea": "ER",
    "estonia": "EE", "eswatini": "SZ", "swaziland": "SZ", "ethiopia": "ET", "fiji": "FJ",
    "finland": "FI", "france": "FR", "french guiana": "GF", "gabon": "GA", "gambia": "GM",
    "georgia": "GE", "germany": "DE", "ghana": "GH", "gibraltar": "GI", "greece": "GR",
    "grenada": "GD", "guadeloupe": "GP", "guatemala": "GT", "guinea": "GN",
    "guinea-bissau": "GW", "guinea bissau": "GW", "guyana": "GY", "haiti": "HT",
    "honduras": "HN", "hong kong": "HK", "hungary": "HU", "iceland": "IS", "india": "IN",
    "indonesia": "ID", "iran": "IR", "iraq": "IQ", "ireland": "IE", "israel": "IL",
    "italy": "IT", "ivory coast": "CI", "cote d'ivoire": "CI", "côte d'ivoire": "CI",
    "jamaica": "JM", "japan": "JP", "jordan": "JO", "kazakhstan": "KZ", "kenya": "KE",
    "kosovo": "XK", "kuwait": "KW", "kyrgyzstan": "KG", "laos": "LA", "latvia": "LV",
    "lebanon": "LB", "lesotho": "LS", "liberia": "LR", "libya": "LY", "liechtenstein": "LI",
    "lithuania": "LT", "luxembourg": "LU", "macau": "MO", "macao": "MO", "madagascar": "MG",
    "malawi": "MW", "malaysia": "MY", "maldives": "MV", "mali": "ML", "malta": "MT",
    "martinique": "MQ", "mauritania": "MR", "mauritius": "MU", "mexico": "MX",
    "moldova": "MD", "monaco": "MC", "mongolia": "MN", "montenegro": "ME", "montserrat": "MS",
    "morocco": "MA", "mozambique": "MZ", "myanmar": "MM", "namibia": "NA", "nepal": "NP",
    "netherlands": "NL", "new caledonia": "NC", "new zealand": "NZ", "nicaragua": "NI",
    "niger": "NE", "nigeria": "NG", "north macedonia": "MK", "macedonia": "MK",
    "norway": "NO", "oman": "OM", "pakistan": "PK", "palestine": "PS", "panama": "PA",
    "papua new guinea": "PG", "papua": "PG", "paraguay": "PY", "peru": "PE",
    "philippines": "PH", "poland": "PL", "portugal": "PT", "puerto rico": "PR", "qatar": "QA",
    "reunion": "RE", "réunion": "RE", "romania": "RO", "russia": "RU",
    "russian federation": "RU", "rwanda": "RW", "saint kitts and nevis": "KN",
    "saint lucia": "LC", "saint vincent and the grenadines": "VC", "samoa": "WS",
    "san marino": "SM", "sao tome and principe": "ST", "saudi arabia": "SA", "senegal": "SN",
    "serbia": "RS", "seychelles": "SC", "sierra leone": "SL", "singapore": "SG",
    "slovakia": "SK", "slovenia": "SI", "solomon islands": "SB", "somalia": "SO",
    "south africa": "ZA", "south korea": "KR", "korea": "KR", "south sudan": "SS",
    "spain": "ES", "sri lanka": "LK", "sudan": "SD", "suriname": "SR", "sweden": "SE",
    "switzerland": "CH", "syria": "SY", "taiwan": "TW", "tajikistan": "TJ", "tanzania": "TZ",
    "thailand": "TH", "timor-leste": "TL", "east timor": "TL", "togo": "TG", "tonga": "TO",
    "trinidad and tobago": "TT", "tunisia": "TN", "turkey": "TR", "türkiye": "TR",
    "turkmenistan": "TM", "uganda": "UG", "ukraine": "UA", "united arab emirates": "AE",
    "uae": "AE", "united kingdom": "GB", "uk": "GB", "england": "GB", "great britain": "GB",
    "united states": "US", "usa": "US", "us": "US", "uruguay": "UY", "uzbekistan": "UZ",
    "vanuatu": "VU", "venezuela": "VE", "vietnam": "VN", "viet nam": "VN", "yemen": "YE",
    "zambia": "ZM", "zimbabwe": "ZW",
}  # fmt: skip

_NOTE = re.compile(r"\s*[\(\[].*?[\)\]]\s*")
_SPACES = re.compile(r"\s+")


def flag_from_iso(iso2: str) -> str:
    """'US' -> 🇺🇸 (two regional indicator symbols); anything else -> 🌐."""
    code = iso2.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return FALLBACK_FLAG
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code)


def _normalise(name: str) -> str:
    return _SPACES.sub(" ", name.strip().lower()).strip(" .")


@lru_cache(maxsize=2048)
def iso_for_name(name: str | None) -> str | None:
    """The ISO code of an English country name, tolerating notes like '(virtual)'."""
    if not name:
        return None
    full = _normalise(name)
    if full in _ISO_BY_NAME:
        return _ISO_BY_NAME[full]
    bare = _normalise(_NOTE.sub(" ", name))
    return _ISO_BY_NAME.get(bare)


def country_flag(english_name: str | None) -> str:
    """The flag of a country given by its English name; 🌐 when unknown."""
    iso = iso_for_name(english_name)
    return flag_from_iso(iso) if iso else FALLBACK_FLAG
