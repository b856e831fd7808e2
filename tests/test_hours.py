"""Opening hours in shop.toml: one clear error line naming the key, and the words they make."""

import datetime as dt

import pytest
from support import write_shop_toml

from shop import config, hours

WEEK = {day: "9:00-17:00" for day in hours.WEEKDAYS[:5]}


@pytest.mark.parametrize(
    ("opening_hours", "message"),
    [
        (
            {"monday": "9-5"},
            '[business] opening_hours.monday: must be time ranges like "9:00-17:30"',
        ),
        ({"monday": 9}, "[business] opening_hours.monday: must be time ranges"),
        (
            {"tuesday": "17:00-9:00"},
            "[business] opening_hours.tuesday: ranges must close after they open",
        ),
        (
            {"friday": "9:00-13:00, 12:00-17:00"},
            "[business] opening_hours.friday: ranges must close after they open and follow",
        ),
        ({"monday": "9:00-24:30"}, "[business] opening_hours.monday: '9:00-24:30' is not a time"),
        ({"mon": "9:00-17:00"}, "[business] opening_hours.mon: unknown key"),
        (
            {"closed_on": ["2026-12-25"]},
            "[business] opening_hours.closed_on: must be a list of dates",
        ),
        (
            {"closed_on": [[dt.date(2026, 12, 27), dt.date(2026, 12, 24)]]},
            "[business] opening_hours.closed_on: 2026-12-27 to 2026-12-24 ends before it starts",
        ),
        ("ma-vr 9-17", "[business] opening_hours: must be a table of weekdays"),
    ],
)
def test_bad_opening_hours_name_the_key(tmp_path, opening_hours, message):
    path = write_shop_toml(tmp_path / "shop.toml", business={"opening_hours": opening_hours})
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"country_code": "Nederland"}, "[business] country_code: must be a two-letter ISO"),
        ({"geo": "bij de kerk"}, '[business] geo: must be "latitude, longitude"'),
        ({"area_served": "Utrecht"}, "[business] area_served: must be a list of texts"),
    ],
)
def test_bad_business_facts_name_the_key(tmp_path, values, message):
    path = write_shop_toml(tmp_path / "shop.toml", business=values)
    with pytest.raises(config.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(path)


def test_missing_opening_hours(tmp_path):
    path = write_shop_toml(tmp_path / "shop.toml")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("opening_hours = ")))
    with pytest.raises(config.ConfigError, match=r"\[business\] opening_hours: missing"):
        config.load(path)


def test_old_sentence_keys_are_refused(tmp_path):
    """opening_hours_nl/_en were replaced: a shop.toml still using them hears so."""
    path = write_shop_toml(tmp_path / "shop.toml", business={"opening_hours_nl": "ma-vr"})
    with pytest.raises(config.ConfigError, match=r"\[business\] opening_hours_nl: unknown key"):
        config.load(path)


def test_words_in_both_languages():
    parsed = hours.parse(
        {
            **WEEK,
            "wednesday": "9:00-12:30, 13:30-17:00",
            "saturday": "by appointment",
            "closed_on": [dt.date(2026, 12, 25), [dt.date(2026, 12, 30), dt.date(2027, 1, 2)]],
        }
    )
    assert parsed.weekly_text("nl") == (
        "maandag en dinsdag 9:00–17:00, woensdag 9:00–12:30 en 13:30–17:00, "
        "donderdag en vrijdag 9:00–17:00, zaterdag op afspraak"
    )
    assert parsed.weekly_text("en") == (
        "Monday and Tuesday 9:00–17:00, Wednesday 9:00–12:30 and 13:30–17:00, "
        "Thursday and Friday 9:00–17:00, Saturday by appointment"
    )
    today = dt.date(2026, 12, 1)
    assert (
        parsed.closed_text("nl", today) == "25 december 2026, 30 december 2026 t/m 2 januari 2027"
    )
    assert parsed.closed_text("en", today) == "25 December 2026, 30 December 2026 to 2 January 2027"


def test_closed_days_that_have_passed_are_left_out():
    parsed = hours.parse({**WEEK, "closed_on": [dt.date(2026, 12, 25), dt.date(2027, 1, 1)]})
    assert parsed.closed_text("nl", dt.date(2026, 12, 26)) == "1 januari 2027"
    assert parsed.closed_text("nl", dt.date(2027, 1, 2)) == ""
    assert "specialOpeningHoursSpecification" not in parsed.schema_org(dt.date(2027, 1, 2))
