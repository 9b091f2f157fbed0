"""Stable error tokens of the marking-code validator, each with the human text shown in docs and details."""

from __future__ import annotations

# Token → what it means. Tokens never change meaning once released; add new ones, never rename.
CODE_ERRORS: dict[str, str] = {
    # Input framing (CLI and validate_code)
    "empty_input": "The input is empty (nothing but an optional symbology identifier or a leading GS).",
    "bad_encoding": "The input line is not valid UTF-8 (CLI only).",
    "bad_json": "With --input-format json, the line is not a JSON string literal (CLI only).",
    "non_ascii": "A character outside ASCII: a Cyrillic look-alike, the Russian keyboard layout, "
    "full-width digits, NBSP …; GS1 data is ASCII only.",
    "unknown_symbology": "The input starts with ']' but not with a symbology identifier that may carry "
    "this data (]d2 ]C1 ]Q3 ]e0 for GS1 data; ]d1 ]Q1 for plain data).",
    "not_gs1_data": "A plain-data symbology identifier (]d1, ]Q1) followed by something that is neither a "
    "raw 29-character tobacco pack code nor a GS1 Digital Link URI.",
    "bad_digital_link": "An http(s) URI that is not a valid GS1 Digital Link: a character a URI may not "
    "carry, a mixed-case scheme, no host, no primary key, a '/' after the last path value, qualifiers out of "
    "order, a deprecated form (convenience alpha, zero-suppressed GTIN in the path), an AI twice, an AI that "
    "may not be a data attribute or that belongs in the path.",
    # Element-string syntax
    "unknown_ai": "The data at an AI position is not an assigned GS1 Application Identifier.",
    "double_gs": "Two GS separators in a row (or a second leading GS): an empty element.",
    "missing_gs": "A GS separator is missing: a variable-length field swallowed the next element(s); "
    "inserting GS where the detail says makes the code valid.",
    "empty_field": "An AI with no data after it.",
    "field_too_short": "The data of an AI is shorter than its format allows (a predefined-length field cut "
    "by GS or by the end of the data is reported so too).",
    "field_too_long": "The data of an AI is longer than its format allows.",
    "bad_charset": "A character not allowed by the AI's format (digits only, set 82, set 39, set 64), "
    "or a control character other than GS.",
    "gtin_check_digit": "The GS1 mod-10 check digit of a GTIN (AI 01, 02, 03, 8006, 8026 or a raw tobacco "
    "pack code) is wrong.",
    "check_digit": "A GS1 check digit or check character pair of another AI (00, 253, 414, 8013 …) is wrong.",
    "bad_date": "Not a calendar date (YYMMDD; day 00 only where the dictionary allows it; leap years).",
    "bad_time": "Not a time of day (hours 00-23, minutes and seconds 00-59).",
    "bad_country": "Not an ISO 3166 country code.",
    "bad_currency": "Not an ISO 4217 currency code.",
    "bad_value": "The value fails another check of the syntax dictionary (piece of total, IBAN, "
    "percent-encoding, non-zero, yes/no …).",
    "conflicting_ai": "The same AI appears twice with different values (an identical repetition is allowed).",
    "missing_required_ai": "An AI whose required association (the dictionary's req=) is absent, e.g. 21 "
    "without 01.",
    "excluded_ai": "Two AIs that the dictionary says must not appear together (ex=).",
    # Marking profile
    "missing_gtin": "Valid GS1 data, but no AI 01 (GTIN): not a marking code.",
    "missing_serial": "Valid GS1 data, but no AI 21 (serial): not a marking code.",
    "missing_crypto": "No crypto part: neither 93 nor 91 with 92.",
    "truncated_crypto": "A crypto part shorter than required (91 or 93 under 4 characters, 92 under 44).",
    "bad_crypto_length": "A crypto part longer than required, or 92 neither 44 nor 88 characters.",
}

