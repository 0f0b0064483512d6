"""Brand detection from the IIN table, Luhn, and the PAN generator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paygate_cardnetworks import (
    brands,
    complete_pan,
    detect_brand,
    generate_pan,
    luhn_valid,
    network,
    networks,
)
from paygate_cardnetworks.networks import luhn_check_digit, table

ALL_BRANDS = ("visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro")

# Every range edge, one step inside and one step outside. Numbers are built
# from the prefix (zeros, then a Luhn digit): synthetic, never real cards.
EDGES = [
    # Visa
    ("4", "visa"),
    ("31", None),
    # Mastercard: 51-55 and the 2-series 2221-2720
    ("2220", None),
    ("2221", "mastercard"),
    ("2720", "mastercard"),
    ("2721", None),
    ("509999", None),
    ("51", "mastercard"),
    ("55", "mastercard"),
    ("56", "maestro"),
    # American Express
    ("33", None),
    ("34", "amex"),
    ("35", None),
    ("37", "amex"),
    # Diners Club: 300-305, 36, 38, 39
    ("299", None),
    ("300", "diners"),
    ("305", "diners"),
    ("306", None),
    ("36", "diners"),
    ("38", "diners"),
    ("39", "diners"),
    # JCB: 3528-3589
    ("3527", None),
    ("3528", "jcb"),
    ("3589", "jcb"),
    ("3590", None),
    # Discover: 6011, 644-649, 65
    ("6010", None),
    ("6011", "discover"),
    ("6012", None),
    ("643", None),
    ("644", "discover"),
    ("649", "discover"),
    ("65", "discover"),
    ("66", None),
    # UnionPay: 62, including Discover's old co-branded 622126-622925
    ("61", None),
    ("62", "unionpay"),
    ("622125", "unionpay"),
    ("622126", "unionpay"),
    ("622925", "unionpay"),
    ("622926", "unionpay"),
    # Maestro, around its holes and inside Visa's 4
    ("493697", "visa"),
    ("493698", "maestro"),
    ("493699", "visa"),
    ("500000", "maestro"),
    ("504174", "maestro"),
    ("504175", None),
    ("504176", "maestro"),
    ("506698", "maestro"),
    ("506699", None),
    ("506778", None),
    ("506779", "maestro"),
    ("508999", "maestro"),
    ("509000", None),
    ("59", "maestro"),
    ("63", "maestro"),
    ("67", "maestro"),
    ("68", None),
]


@pytest.mark.parametrize(("prefix", "expected"), EDGES)
def test_range_edges(prefix: str, expected: str | None) -> None:
    pan = complete_pan(prefix, 16)
    assert luhn_valid(pan)
    assert detect_brand(pan) == expected


def test_edge_table_covers_every_brand() -> None:
    assert {brand for _, brand in EDGES if brand} == set(ALL_BRANDS)


def test_brand_names_are_the_lowercase_eight() -> None:
    assert set(brands()) == set(ALL_BRANDS)
    assert len(brands()) == len(ALL_BRANDS)


def test_detection_order_is_written_down() -> None:
    assert brands() == (
        "amex",
        "diners",
        "jcb",
        "mastercard",
        "maestro",
        "visa",
        "discover",
        "unionpay",
    )


def _overlaps() -> set[tuple[str, str, str, str]]:
    found = set()
    ordered = networks()
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            for a in first.ranges:
                for b in second.ranges:
                    if a.overlaps(b):
                        found.add((first.name, str(a), second.name, str(b)))
    return found


def test_every_overlap_is_known_and_the_narrower_range_wins() -> None:
    # Adding a range that overlaps another must come with a decision here.
    assert _overlaps() == {("maestro", "493698", "visa", "4")}
    for first, a, _second, b in _overlaps():
        # Earlier in the order means it wins: it must be the more specific one.
        assert len(a) > len(b), first


def test_ranges_do_not_overlap_within_a_network() -> None:
    for net in networks():
        for i, a in enumerate(net.ranges):
            for b in net.ranges[i + 1 :]:
                assert not a.overlaps(b), (net.name, str(a), str(b))


@pytest.mark.parametrize(
    ("pan", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("4000002500003155", "visa"),
    ],
)
def test_stripe_test_cards(pan: str, brand: str) -> None:
    assert detect_brand(pan) == brand
    assert luhn_valid(pan)
    assert len(pan) in network(brand).lengths


def test_detect_ignores_spaces_and_dashes_and_reads_partial_numbers() -> None:
    assert detect_brand("4242 4242-4242 4242") == "visa"
    assert detect_brand("37") == "amex"
    assert detect_brand("3") is None
    assert detect_brand("") is None
    assert detect_brand("4242x") is None
    assert detect_brand("４２４２") is None  # full-width digits are not card digits


def test_luhn() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("4242424242424241")
    assert luhn_valid("4242 4242 4242 4242")
    assert not luhn_valid("0")
    assert not luhn_valid("")
    assert not luhn_valid("42424242424242a2")


def test_table_is_data_with_its_source_and_date() -> None:
    assert "ActiveMerchant" in table().source
    assert table().read_on[:4].isdigit()
    assert network("amex").cvc_length == 4
    assert {network(b).cvc_length for b in ALL_BRANDS if b != "amex"} == {3}


def test_generate_pan_rejects_impossible_length() -> None:
    with pytest.raises(ValueError, match="15"):
        generate_pan("visa", random.Random(0), length=15)


@pytest.mark.parametrize("brand", ALL_BRANDS)
@given(rng=st.randoms(use_true_random=False))
def test_generated_pans_are_detected_and_pass_luhn(brand: str, rng: random.Random) -> None:
    pan = generate_pan(brand, rng)
    assert detect_brand(pan) == brand
    assert luhn_valid(pan)
    assert len(pan) in network(brand).lengths


@pytest.mark.parametrize("brand", ALL_BRANDS)
@given(rng=st.randoms(use_true_random=False), data=st.data())
def test_changing_any_one_digit_fails_luhn(
    brand: str, rng: random.Random, data: st.DataObject
) -> None:
    pan = generate_pan(brand, rng)
    position = data.draw(st.integers(0, len(pan) - 1), label="position")
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != pan[position]]))
    changed = pan[:position] + digit + pan[position + 1 :]
    assert not luhn_valid(changed)


def test_groups_typed_with_double_spaces_underscores_or_slashes_are_normalized() -> None:
    from paygate_cardnetworks.networks import detect_brand, normalize

    for typed in ("4242  4242  4242  4242", "4242_4242_4242_4242", "4242/4242/4242/4242"):
        assert normalize(typed) == "4242424242424242"
        assert detect_brand(typed) == "visa"
