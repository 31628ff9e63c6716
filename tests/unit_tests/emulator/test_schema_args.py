"""Schema-driven tool arguments: always valid, filled from the message where possible."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from langchain_cris.emulator.schema_args import generate_arguments


class Magic(BaseModel):
    input: int = Field(..., gt=-1000, lt=1000)


class Customer(BaseModel):
    customer_name: str
    description: str


class Address(BaseModel):
    city: str
    zip_code: int = Field(ge=1000, le=99999)


class Order(BaseModel):
    kind: Literal["pickup", "delivery"]
    quantities: list[int] = Field(min_length=1)
    address: Address  # strings are filled in declaration order: the quoted city comes first
    tags: list[str]
    note: str | None = None
    urgent: bool = False
    due: dt.date
    ratio: float = Field(ge=0, le=1)


def test_magic_function_gets_the_number_from_the_call() -> None:
    args = generate_arguments(
        Magic.model_json_schema(), "What is the value of magic_function(3)? Use the tool."
    )
    assert args == {"input": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Create a customer named '你好啊集团' (Hello Group) - a Chinese technology company",
            "你好",
        ),
        ("Create a customer named 'こんにちは株式会社' (Hello Corporation)", "こんにちは"),
    ],
)
def test_quoted_unicode_text_lands_in_the_first_string(text: str, expected: str) -> None:
    args = generate_arguments(Customer.model_json_schema(), text)
    assert expected in args["customer_name"]
    Customer.model_validate(args)


def test_named_numbers_win_over_position() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }
    assert generate_arguments(schema, "add b=5 and a=7") == {"a": 7, "b": 5}
    assert generate_arguments(schema, "What is 3 + 4") == {"a": 3, "b": 4}


def test_nested_enum_array_optional_and_formats_validate() -> None:
    text = "Order 2 and 3 boxes for delivery to 'Berlin', zip 10115, due 2026-12-01"
    args = generate_arguments(Order.model_json_schema(), text)
    order = Order.model_validate(args)
    assert order.kind == "delivery"
    assert order.address.city == "Berlin"
    assert order.due == dt.date(2026, 12, 1)


def test_bounds_clamp_numbers_from_text() -> None:
    args = generate_arguments(Magic.model_json_schema(), "magic_function(5000)")
    assert args == {"input": 999}


@given(st.text(max_size=200))
def test_any_text_yields_schema_valid_arguments(text: str) -> None:
    Order.model_validate(generate_arguments(Order.model_json_schema(), text))
    Customer.model_validate(generate_arguments(Customer.model_json_schema(), text))
    Magic.model_validate(generate_arguments(Magic.model_json_schema(), text))


def test_patterns_pick_a_matching_word_or_the_default() -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "fallback": {"type": "string", "pattern": "^[0-9]{4}$", "default": "0000"},
        },
    }
    assert generate_arguments(schema, "Pay 'ACME GmbH' in GBP") == {
        "code": "GBP",
        "fallback": "0000",
    }
