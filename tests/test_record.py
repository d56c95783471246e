"""What the record validation accepts and rejects, without a broker."""

import json
import time

import pytest

from isspanel.record import InvalidRecord, from_flat, from_open_notify, make_record

NOW = 1_795_000_000


def answer(**changes):
    body = {
        "message": "success",
        "timestamp": NOW - 5,
        "iss_position": {"latitude": "-12.3456", "longitude": "179.6000"},
    }
    body.update(changes)
    return body


def test_a_good_answer_flattens_with_the_positions_own_time():
    record = from_open_notify(answer(), now=NOW)
    assert record.to_dict() == {
        "timestamp": NOW - 5,
        "latitude": -12.3456,
        "longitude": 179.6,
        "eventTime": "2026-11-18T11:06:35Z",
        "source": "open-notify",
    }
    assert json.loads(record.to_json())["eventTime"].endswith("Z")


@pytest.mark.parametrize(
    "body, reason",
    [
        (answer(message="failure"), "message"),
        (answer(iss_position={"latitude": "north", "longitude": "1"}), "latitude is not a number"),
        (answer(iss_position={"latitude": "91", "longitude": "1"}), "outside [-90, 90]"),
        (answer(iss_position={"latitude": "1", "longitude": "-180.5"}), "outside [-180, 180]"),
        (answer(iss_position={"latitude": "NaN", "longitude": "1"}), "not finite"),
        (answer(timestamp="soon"), "not an integer"),
        (answer(timestamp=12.5), "not an integer"),
        (answer(timestamp=NOW + 3600), "future"),
        (answer(timestamp=NOW - 3 * 365 * 86400), "days old"),
        ({"message": "success"}, "iss_position"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_bad_answers_are_rejected_with_one_clear_reason(body, reason):
    with pytest.raises(InvalidRecord, match=reason.replace("[", r"\[").replace("]", r"\]")):
        from_open_notify(body, now=NOW)


def test_flat_records_from_the_topic_are_validated_too():
    good = make_record(NOW, 1.5, 2.5, "sgp4", now=NOW)
    assert from_flat(good.to_json(), now=NOW) == good
    for bad, reason in [
        (b"{not json", "not JSON"),
        (b'{"timestamp": 1}', "missing"),
        (b'{"timestamp": 1795000000, "latitude": 95, "longitude": 0}', "outside"),
    ]:
        with pytest.raises(InvalidRecord, match=reason):
            from_flat(bad, now=NOW)


def test_clock_skew_is_tolerated():
    assert make_record(int(time.time()) + 60, 0, 0, "sgp4").timestamp > time.time()
