"""The shop as schema.org JSON-LD for search engines, made from shop.toml.

The type is `ComputerStore`: schema.org has no computer-repair type (`AutoRepair` is for cars,
`ProfessionalService` is deprecated), and Google asks for the most specific `LocalBusiness`
subtype; a computer store is how maps and search engines file a shop like this one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from shop.config import ShopConfig, is_placeholder

BUSINESS_TYPE = "ComputerStore"
# The pages that carry the JSON-LD (keys of shop.site.PAGE_PATHS).
PAGES = ("home", "contact")


def local_business(shop: ShopConfig, today: dt.date | None = None) -> dict[str, Any]:
    """The ComputerStore node; values still a [placeholder] are left out."""
    b = shop.business
    url = shop.site.url.rstrip("/") + "/"
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": BUSINESS_TYPE,
        "@id": url + "#business",
        "name": b.trade_name,
        "url": url,
        "telephone": b.phone,
        "email": b.email,
        "vatID": b.btw_id,
        # schema.org has no legal-form property; a Place's additionalProperty carries it.
        "additionalProperty": {
            "@type": "PropertyValue",
            "name": "rechtsvorm",
            "value": b.legal_form,
        },
        "identifier": {"@type": "PropertyValue", "propertyID": "KvK", "value": b.kvk},
        "address": {
            "@type": "PostalAddress",
            "streetAddress": b.street,
            "postalCode": b.postcode,
            "addressLocality": b.city,
            "addressCountry": b.country_code,
        },
        **b.opening_hours.schema_org(today),
    }
    if b.latitude_longitude:
        latitude, longitude = b.latitude_longitude
        data["geo"] = {"@type": "GeoCoordinates", "latitude": latitude, "longitude": longitude}
    if b.area_served:
        data["areaServed"] = list(b.area_served)
    return _without_placeholders(data)


def script_json(data: dict[str, Any]) -> str:
    """Compact JSON safe inside <script type="application/ld+json"> (no `</script>` possible)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _without_placeholders(value: Any) -> Any:
    """`value` with every placeholder text dropped, and nodes left with nothing but a type."""
    if isinstance(value, dict):
        kept = {k: _without_placeholders(v) for k, v in value.items()}
        kept = {k: v for k, v in kept.items() if v is not None}
        if set(kept) <= {"@type", "propertyID", "name"} and value.keys() - kept.keys():
            return None  # e.g. a PropertyValue whose value was a placeholder
        return kept
    if isinstance(value, list):
        kept = [v for v in (_without_placeholders(v) for v in value) if v is not None]
        return kept or None
    if isinstance(value, str) and is_placeholder(value):
        return None
    return value
