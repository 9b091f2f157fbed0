"""Goods and marking codes look like what real scanners read: valid GTINs, GS1 element strings."""

from __future__ import annotations

import random

import biip
import pytest

from firmware_sim.catalog import GS, GS1_SET_82, cis_of, default_catalog, gtin_is_valid, marking_code
from firmware_sim.receipts import BasketItem, make_line
from gateway.security.ai_label import parse_ai_label


def test_check_digits_match_known_barcodes() -> None:
    assert gtin_is_valid("4006381333931")  # a published EAN-13
    assert not gtin_is_valid("4006381333932")
    assert all(gtin_is_valid(g.gtin) for g in default_catalog() if g.gtin)


@pytest.mark.parametrize("group, serial_len, crypto_ais", [
    ("shoes", 13, ["91", "92"]), ("clothing", 13, ["91", "92"]), ("medicines", 13, ["91", "92"]),
    ("tobacco", 7, ["93"]), ("dairy", 6, ["93"]),
])
def test_marking_codes_parse_as_gs1_with_the_goods_gtin(
    group: str, serial_len: int, crypto_ais: list[str]
) -> None:
    rng = random.Random(3)
    goods = next(g for g in default_catalog() if g.marking_group == group)
    for _ in range(50):
        code = marking_code(goods, rng)
        parsed = biip.parse(code)
        assert parsed.gs1_message is not None, parsed.gs1_message_error
        elements = {e.ai.ai: e.value for e in parsed.gs1_message.element_strings}
        assert elements["01"] == goods.gtin and parsed.gs1_message.element_strings[0].gtin_error is None
        assert len(elements["21"]) == serial_len and set(elements["21"]) <= set(GS1_SET_82)
        assert sorted(set(elements) - {"01", "21"}) == crypto_ais
        if "92" in elements:
            assert len(elements["92"]) == 44 and len(elements["91"]) == 4
        else:
            assert len(elements["93"]) == 4
        assert cis_of(code) == f"01{goods.gtin}21{elements['21']}" and code.count(GS) == len(crypto_ais)


def test_unmarked_goods_have_no_code() -> None:
    with pytest.raises(ValueError):
        marking_code(next(g for g in default_catalog() if not g.marking_group), random.Random(1))


def test_goods_made_with_ai_carry_a_label_the_gateway_accepts() -> None:
    labelled = [goods for goods in default_catalog() if goods.ai_label]
    assert labelled, "the catalog sells at least one AI-made item"
    for goods in labelled:
        line = make_line(BasketItem(goods, 1000))
        assert line.ai_label == goods.ai_label
        assert parse_ai_label(line.ai_label).source == "compositeWithTrainedAlgorithmicMedia"
