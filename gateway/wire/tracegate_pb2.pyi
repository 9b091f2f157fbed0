from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_UNSPECIFIED: _ClassVar[Operation]
    BUY: _ClassVar[Operation]
    BUY_RETURN: _ClassVar[Operation]
    SELL: _ClassVar[Operation]
    SELL_RETURN: _ClassVar[Operation]

class PaymentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_TYPE_UNSPECIFIED: _ClassVar[PaymentType]
    CASH: _ClassVar[PaymentType]
    CARD: _ClassVar[PaymentType]
    CREDIT: _ClassVar[PaymentType]
    TARE: _ClassVar[PaymentType]
    MOBILE: _ClassVar[PaymentType]

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    ACCEPTED: _ClassVar[AckStatus]
    DUPLICATE: _ClassVar[AckStatus]
    REJECTED: _ClassVar[AckStatus]
OPERATION_UNSPECIFIED: Operation
BUY: Operation
BUY_RETURN: Operation
SELL: Operation
SELL_RETURN: Operation
PAYMENT_TYPE_UNSPECIFIED: PaymentType
CASH: PaymentType
CARD: PaymentType
CREDIT: PaymentType
TARE: PaymentType
MOBILE: PaymentType
ACK_STATUS_UNSPECIFIED: AckStatus
ACCEPTED: AckStatus
DUPLICATE: AckStatus
REJECTED: AckStatus

class Tax(_message.Message):
    __slots__ = ("tax_type", "rate_bp", "sum", "added", "taxation_type")
    TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
    RATE_BP_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    TAXATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    tax_type: int
    rate_bp: int
    sum: int
    added: bool
    taxation_type: int
    def __init__(self, tax_type: _Optional[int] = ..., rate_bp: _Optional[int] = ..., sum: _Optional[int] = ..., added: _Optional[bool] = ..., taxation_type: _Optional[int] = ...) -> None: ...

class CardPayment(_message.Message):
    __slots__ = ("terminal_id", "card_type", "auth_code", "rrn", "terminal_receipt_number")
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_TYPE_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    RRN_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    terminal_id: str
    card_type: str
    auth_code: str
    rrn: str
    terminal_receipt_number: int
    def __init__(self, terminal_id: _Optional[str] = ..., card_type: _Optional[str] = ..., auth_code: _Optional[str] = ..., rrn: _Optional[str] = ..., terminal_receipt_number: _Optional[int] = ...) -> None: ...

class MobilePayment(_message.Message):
    __slots__ = ("qr_type", "qr_id")
    QR_TYPE_FIELD_NUMBER: _ClassVar[int]
    QR_ID_FIELD_NUMBER: _ClassVar[int]
    qr_type: str
    qr_id: str
    def __init__(self, qr_type: _Optional[str] = ..., qr_id: _Optional[str] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("type", "sum", "card", "mobile")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    type: PaymentType
    sum: int
    card: CardPayment
    mobile: MobilePayment
    def __init__(self, type: _Optional[_Union[PaymentType, str]] = ..., sum: _Optional[int] = ..., card: _Optional[_Union[CardPayment, _Mapping]] = ..., mobile: _Optional[_Union[MobilePayment, _Mapping]] = ...) -> None: ...

class Adjustment(_message.Message):
    __slots__ = ("sum", "taxes", "name")
    SUM_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    sum: int
    taxes: _containers.RepeatedCompositeFieldContainer[Tax]
    name: str
    def __init__(self, sum: _Optional[int] = ..., taxes: _Optional[_Iterable[_Union[Tax, _Mapping]]] = ..., name: _Optional[str] = ...) -> None: ...

class ReceiptLine(_message.Message):
    __slots__ = ("name", "gtin", "quantity", "price", "discount", "markup", "sum", "taxes", "marking_codes", "unit", "code_check_id", "code_check_time_ms", "ai_label", "storno", "section_code", "ntin", "physical_label", "product_id", "catalogue_code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GTIN_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    MARKUP_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    MARKING_CODES_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CODE_CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_CHECK_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    AI_LABEL_FIELD_NUMBER: _ClassVar[int]
    STORNO_FIELD_NUMBER: _ClassVar[int]
    SECTION_CODE_FIELD_NUMBER: _ClassVar[int]
    NTIN_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_LABEL_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    gtin: str
    quantity: int
    price: int
    discount: int
    markup: int
    sum: int
    taxes: _containers.RepeatedCompositeFieldContainer[Tax]
    marking_codes: _containers.RepeatedScalarFieldContainer[str]
    unit: str
    code_check_id: str
    code_check_time_ms: int
    ai_label: str
    storno: bool
    section_code: str
    ntin: str
    physical_label: str
    product_id: str
    catalogue_code: int
    def __init__(self, name: _Optional[str] = ..., gtin: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[int] = ..., discount: _Optional[int] = ..., markup: _Optional[int] = ..., sum: _Optional[int] = ..., taxes: _Optional[_Iterable[_Union[Tax, _Mapping]]] = ..., marking_codes: _Optional[_Iterable[str]] = ..., unit: _Optional[str] = ..., code_check_id: _Optional[str] = ..., code_check_time_ms: _Optional[int] = ..., ai_label: _Optional[str] = ..., storno: _Optional[bool] = ..., section_code: _Optional[str] = ..., ntin: _Optional[str] = ..., physical_label: _Optional[str] = ..., product_id: _Optional[str] = ..., catalogue_code: _Optional[int] = ...) -> None: ...

class ParentDocument(_message.Message):
    __slots__ = ("device_id", "shift_number", "document_number", "time_ms", "total", "fiscal_sign", "register_number", "offline")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FISCAL_SIGN_FIELD_NUMBER: _ClassVar[int]
    REGISTER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    shift_number: int
    document_number: int
    time_ms: int
    total: int
    fiscal_sign: str
    register_number: str
    offline: bool
    def __init__(self, device_id: _Optional[str] = ..., shift_number: _Optional[int] = ..., document_number: _Optional[int] = ..., time_ms: _Optional[int] = ..., total: _Optional[int] = ..., fiscal_sign: _Optional[str] = ..., register_number: _Optional[str] = ..., offline: _Optional[bool] = ...) -> None: ...

class BuyerContacts(_message.Message):
    __slots__ = ("email", "phone", "iin", "consent_purpose", "consent_expires_ms")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    IIN_FIELD_NUMBER: _ClassVar[int]
    CONSENT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    iin: str
    consent_purpose: str
    consent_expires_ms: int
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ..., iin: _Optional[str] = ..., consent_purpose: _Optional[str] = ..., consent_expires_ms: _Optional[int] = ...) -> None: ...

class Geolocation(_message.Message):
    __slots__ = ("latitude_e6", "longitude_e6")
    LATITUDE_E6_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_E6_FIELD_NUMBER: _ClassVar[int]
    latitude_e6: int
    longitude_e6: int
    def __init__(self, latitude_e6: _Optional[int] = ..., longitude_e6: _Optional[int] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("operation", "shift_number", "document_number", "shift_document_number", "cashier", "lines", "payments", "total", "change", "taxes", "parent", "buyer", "location", "discount", "markup", "offline", "offline_number")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SHIFT_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CASHIER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    BUYER_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    MARKUP_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    shift_number: int
    document_number: int
    shift_document_number: int
    cashier: str
    lines: _containers.RepeatedCompositeFieldContainer[ReceiptLine]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    total: int
    change: int
    taxes: _containers.RepeatedCompositeFieldContainer[Tax]
    parent: ParentDocument
    buyer: BuyerContacts
    location: Geolocation
    discount: Adjustment
    markup: Adjustment
    offline: bool
    offline_number: int
    def __init__(self, operation: _Optional[_Union[Operation, str]] = ..., shift_number: _Optional[int] = ..., document_number: _Optional[int] = ..., shift_document_number: _Optional[int] = ..., cashier: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ReceiptLine, _Mapping]]] = ..., payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., total: _Optional[int] = ..., change: _Optional[int] = ..., taxes: _Optional[_Iterable[_Union[Tax, _Mapping]]] = ..., parent: _Optional[_Union[ParentDocument, _Mapping]] = ..., buyer: _Optional[_Union[BuyerContacts, _Mapping]] = ..., location: _Optional[_Union[Geolocation, _Mapping]] = ..., discount: _Optional[_Union[Adjustment, _Mapping]] = ..., markup: _Optional[_Union[Adjustment, _Mapping]] = ..., offline: _Optional[bool] = ..., offline_number: _Optional[int] = ...) -> None: ...

class ShiftOpen(_message.Message):
    __slots__ = ("shift_number", "cashier")
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CASHIER_FIELD_NUMBER: _ClassVar[int]
    shift_number: int
    cashier: str
    def __init__(self, shift_number: _Optional[int] = ..., cashier: _Optional[str] = ...) -> None: ...

class OperationTotals(_message.Message):
    __slots__ = ("operation", "count", "sum", "payments", "taxes", "discounts", "markups", "change", "offline_count")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    MARKUPS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    count: int
    sum: int
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    taxes: _containers.RepeatedCompositeFieldContainer[Tax]
    discounts: int
    markups: int
    change: int
    offline_count: int
    def __init__(self, operation: _Optional[_Union[Operation, str]] = ..., count: _Optional[int] = ..., sum: _Optional[int] = ..., payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., taxes: _Optional[_Iterable[_Union[Tax, _Mapping]]] = ..., discounts: _Optional[int] = ..., markups: _Optional[int] = ..., change: _Optional[int] = ..., offline_count: _Optional[int] = ...) -> None: ...

class ShiftClose(_message.Message):
    __slots__ = ("shift_number", "cashier", "receipt_count", "operations", "cash_deposits", "cash_withdrawals", "cash_in_drawer", "grand_totals", "first_document_number", "last_document_number", "offline", "opened_ms", "other_document_numbers")
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CASHIER_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    CASH_DEPOSITS_FIELD_NUMBER: _ClassVar[int]
    CASH_WITHDRAWALS_FIELD_NUMBER: _ClassVar[int]
    CASH_IN_DRAWER_FIELD_NUMBER: _ClassVar[int]
    GRAND_TOTALS_FIELD_NUMBER: _ClassVar[int]
    FIRST_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    OPENED_MS_FIELD_NUMBER: _ClassVar[int]
    OTHER_DOCUMENT_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    shift_number: int
    cashier: str
    receipt_count: int
    operations: _containers.RepeatedCompositeFieldContainer[OperationTotals]
    cash_deposits: int
    cash_withdrawals: int
    cash_in_drawer: int
    grand_totals: _containers.RepeatedCompositeFieldContainer[OperationTotals]
    first_document_number: int
    last_document_number: int
    offline: bool
    opened_ms: int
    other_document_numbers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, shift_number: _Optional[int] = ..., cashier: _Optional[str] = ..., receipt_count: _Optional[int] = ..., operations: _Optional[_Iterable[_Union[OperationTotals, _Mapping]]] = ..., cash_deposits: _Optional[int] = ..., cash_withdrawals: _Optional[int] = ..., cash_in_drawer: _Optional[int] = ..., grand_totals: _Optional[_Iterable[_Union[OperationTotals, _Mapping]]] = ..., first_document_number: _Optional[int] = ..., last_document_number: _Optional[int] = ..., offline: _Optional[bool] = ..., opened_ms: _Optional[int] = ..., other_document_numbers: _Optional[_Iterable[int]] = ...) -> None: ...

class CashMovement(_message.Message):
    __slots__ = ("kind", "sum", "shift_number", "cashier", "offline")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[CashMovement.Kind]
        DEPOSIT: _ClassVar[CashMovement.Kind]
        WITHDRAWAL: _ClassVar[CashMovement.Kind]
    KIND_UNSPECIFIED: CashMovement.Kind
    DEPOSIT: CashMovement.Kind
    WITHDRAWAL: CashMovement.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CASHIER_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    kind: CashMovement.Kind
    sum: int
    shift_number: int
    cashier: str
    offline: bool
    def __init__(self, kind: _Optional[_Union[CashMovement.Kind, str]] = ..., sum: _Optional[int] = ..., shift_number: _Optional[int] = ..., cashier: _Optional[str] = ..., offline: _Optional[bool] = ...) -> None: ...

class ReceiptCancel(_message.Message):
    __slots__ = ("shift_number", "document_number", "fiscal_sign", "operation", "total")
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FISCAL_SIGN_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    shift_number: int
    document_number: int
    fiscal_sign: str
    operation: Operation
    total: int
    def __init__(self, shift_number: _Optional[int] = ..., document_number: _Optional[int] = ..., fiscal_sign: _Optional[str] = ..., operation: _Optional[_Union[Operation, str]] = ..., total: _Optional[int] = ...) -> None: ...

class GapNotice(_message.Message):
    __slots__ = ("first_missing_seq", "last_missing_seq", "reason")
    FIRST_MISSING_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_MISSING_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    first_missing_seq: int
    last_missing_seq: int
    reason: str
    def __init__(self, first_missing_seq: _Optional[int] = ..., last_missing_seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class KeyRotation(_message.Message):
    __slots__ = ("new_public_key", "new_key_id")
    NEW_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    new_public_key: bytes
    new_key_id: str
    def __init__(self, new_public_key: _Optional[bytes] = ..., new_key_id: _Optional[str] = ...) -> None: ...

class CodeCheckRecord(_message.Message):
    __slots__ = ("check_id", "codes", "may_sell")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    MAY_SELL_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    codes: _containers.RepeatedScalarFieldContainer[str]
    may_sell: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, check_id: _Optional[str] = ..., codes: _Optional[_Iterable[str]] = ..., may_sell: _Optional[_Iterable[bool]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("time_ms", "receipt", "shift_open", "shift_close", "cash_movement", "gap_notice", "key_rotation", "code_check", "receipt_cancel")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    SHIFT_OPEN_FIELD_NUMBER: _ClassVar[int]
    SHIFT_CLOSE_FIELD_NUMBER: _ClassVar[int]
    CASH_MOVEMENT_FIELD_NUMBER: _ClassVar[int]
    GAP_NOTICE_FIELD_NUMBER: _ClassVar[int]
    KEY_ROTATION_FIELD_NUMBER: _ClassVar[int]
    CODE_CHECK_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_CANCEL_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    receipt: Receipt
    shift_open: ShiftOpen
    shift_close: ShiftClose
    cash_movement: CashMovement
    gap_notice: GapNotice
    key_rotation: KeyRotation
    code_check: CodeCheckRecord
    receipt_cancel: ReceiptCancel
    def __init__(self, time_ms: _Optional[int] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., shift_open: _Optional[_Union[ShiftOpen, _Mapping]] = ..., shift_close: _Optional[_Union[ShiftClose, _Mapping]] = ..., cash_movement: _Optional[_Union[CashMovement, _Mapping]] = ..., gap_notice: _Optional[_Union[GapNotice, _Mapping]] = ..., key_rotation: _Optional[_Union[KeyRotation, _Mapping]] = ..., code_check: _Optional[_Union[CodeCheckRecord, _Mapping]] = ..., receipt_cancel: _Optional[_Union[ReceiptCancel, _Mapping]] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("device_id", "seq", "prev_hash", "event", "signature", "key_id")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    seq: int
    prev_hash: bytes
    event: bytes
    signature: bytes
    key_id: str
    def __init__(self, device_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., event: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class IngestBatch(_message.Message):
    __slots__ = ("envelopes",)
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedCompositeFieldContainer[Envelope]
    def __init__(self, envelopes: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ...) -> None: ...

class EventAck(_message.Message):
    __slots__ = ("device_id", "seq", "status", "error_code", "detail", "fiscal_sign", "envelope_hash", "retryable")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FISCAL_SIGN_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_HASH_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    seq: int
    status: AckStatus
    error_code: str
    detail: str
    fiscal_sign: str
    envelope_hash: bytes
    retryable: bool
    def __init__(self, device_id: _Optional[str] = ..., seq: _Optional[int] = ..., status: _Optional[_Union[AckStatus, str]] = ..., error_code: _Optional[str] = ..., detail: _Optional[str] = ..., fiscal_sign: _Optional[str] = ..., envelope_hash: _Optional[bytes] = ..., retryable: _Optional[bool] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("acks", "received_ms", "gateway_id")
    ACKS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_MS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[EventAck]
    received_ms: int
    gateway_id: str
    def __init__(self, acks: _Optional[_Iterable[_Union[EventAck, _Mapping]]] = ..., received_ms: _Optional[int] = ..., gateway_id: _Optional[str] = ...) -> None: ...

class CodeCheckBody(_message.Message):
    __slots__ = ("codes", "time_ms", "nonce")
    CODES_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    time_ms: int
    nonce: bytes
    def __init__(self, codes: _Optional[_Iterable[str]] = ..., time_ms: _Optional[int] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class CodeCheckRequest(_message.Message):
    __slots__ = ("device_id", "body", "signature", "key_id")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    body: bytes
    signature: bytes
    key_id: str
    def __init__(self, device_id: _Optional[str] = ..., body: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class CodeVerdict(_message.Message):
    __slots__ = ("code", "cis", "may_sell", "status", "error_code", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CIS_FIELD_NUMBER: _ClassVar[int]
    MAY_SELL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: str
    cis: str
    may_sell: bool
    status: str
    error_code: str
    detail: str
    def __init__(self, code: _Optional[str] = ..., cis: _Optional[str] = ..., may_sell: _Optional[bool] = ..., status: _Optional[str] = ..., error_code: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class CodeCheckResponse(_message.Message):
    __slots__ = ("check_id", "time_ms", "verdicts")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    time_ms: int
    verdicts: _containers.RepeatedCompositeFieldContainer[CodeVerdict]
    def __init__(self, check_id: _Optional[str] = ..., time_ms: _Optional[int] = ..., verdicts: _Optional[_Iterable[_Union[CodeVerdict, _Mapping]]] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("kind", "line", "detail", "cis", "other_seller_tin", "other_store_id", "facts")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CIS_FIELD_NUMBER: _ClassVar[int]
    OTHER_SELLER_TIN_FIELD_NUMBER: _ClassVar[int]
    OTHER_STORE_ID_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    line: int
    detail: str
    cis: str
    other_seller_tin: str
    other_store_id: str
    facts: str
    def __init__(self, kind: _Optional[str] = ..., line: _Optional[int] = ..., detail: _Optional[str] = ..., cis: _Optional[str] = ..., other_seller_tin: _Optional[str] = ..., other_store_id: _Optional[str] = ..., facts: _Optional[str] = ...) -> None: ...

class JournalRecord(_message.Message):
    __slots__ = ("envelope", "received_ms", "accepted", "envelope_hash", "fiscal_sign", "seller_tin", "store_id", "findings", "error_code", "detail", "gateway_id", "code_verdicts", "code_check", "authentication", "ofd_frame", "ofd_exchange", "sealed")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_MS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_HASH_FIELD_NUMBER: _ClassVar[int]
    FISCAL_SIGN_FIELD_NUMBER: _ClassVar[int]
    SELLER_TIN_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    CODE_CHECK_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_FIELD_NUMBER: _ClassVar[int]
    OFD_FRAME_FIELD_NUMBER: _ClassVar[int]
    OFD_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    envelope: Envelope
    received_ms: int
    accepted: bool
    envelope_hash: bytes
    fiscal_sign: str
    seller_tin: str
    store_id: str
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    error_code: str
    detail: str
    gateway_id: str
    code_verdicts: _containers.RepeatedCompositeFieldContainer[CodeVerdictRecord]
    code_check: CodeCheckLog
    authentication: str
    ofd_frame: bytes
    ofd_exchange: OfdExchangeLog
    sealed: SealedEvent
    def __init__(self, envelope: _Optional[_Union[Envelope, _Mapping]] = ..., received_ms: _Optional[int] = ..., accepted: _Optional[bool] = ..., envelope_hash: _Optional[bytes] = ..., fiscal_sign: _Optional[str] = ..., seller_tin: _Optional[str] = ..., store_id: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., error_code: _Optional[str] = ..., detail: _Optional[str] = ..., gateway_id: _Optional[str] = ..., code_verdicts: _Optional[_Iterable[_Union[CodeVerdictRecord, _Mapping]]] = ..., code_check: _Optional[_Union[CodeCheckLog, _Mapping]] = ..., authentication: _Optional[str] = ..., ofd_frame: _Optional[bytes] = ..., ofd_exchange: _Optional[_Union[OfdExchangeLog, _Mapping]] = ..., sealed: _Optional[_Union[SealedEvent, _Mapping]] = ...) -> None: ...

class SealedEvent(_message.Message):
    __slots__ = ("protection", "event", "buyer", "evidence", "event_sha256")
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    BUYER_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    protection: str
    event: bytes
    buyer: SealedBuyer
    evidence: bytes
    event_sha256: bytes
    def __init__(self, protection: _Optional[str] = ..., event: _Optional[bytes] = ..., buyer: _Optional[_Union[SealedBuyer, _Mapping]] = ..., evidence: _Optional[bytes] = ..., event_sha256: _Optional[bytes] = ...) -> None: ...

class SealedBuyer(_message.Message):
    __slots__ = ("event_time_ms", "consent_purpose", "consent_expires_ms", "key_id", "wrapped_key", "email", "phone", "iin", "email_hash", "phone_hash", "iin_hash")
    EVENT_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    IIN_FIELD_NUMBER: _ClassVar[int]
    EMAIL_HASH_FIELD_NUMBER: _ClassVar[int]
    PHONE_HASH_FIELD_NUMBER: _ClassVar[int]
    IIN_HASH_FIELD_NUMBER: _ClassVar[int]
    event_time_ms: int
    consent_purpose: str
    consent_expires_ms: int
    key_id: str
    wrapped_key: bytes
    email: bytes
    phone: bytes
    iin: bytes
    email_hash: str
    phone_hash: str
    iin_hash: str
    def __init__(self, event_time_ms: _Optional[int] = ..., consent_purpose: _Optional[str] = ..., consent_expires_ms: _Optional[int] = ..., key_id: _Optional[str] = ..., wrapped_key: _Optional[bytes] = ..., email: _Optional[bytes] = ..., phone: _Optional[bytes] = ..., iin: _Optional[bytes] = ..., email_hash: _Optional[str] = ..., phone_hash: _Optional[str] = ..., iin_hash: _Optional[str] = ...) -> None: ...

class EventReceipts(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, receipt: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CodeVerdictRecord(_message.Message):
    __slots__ = ("line", "code_index", "cis", "verdict", "error_code", "gtin", "group", "raw_code")
    LINE_FIELD_NUMBER: _ClassVar[int]
    CODE_INDEX_FIELD_NUMBER: _ClassVar[int]
    CIS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    GTIN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    RAW_CODE_FIELD_NUMBER: _ClassVar[int]
    line: int
    code_index: int
    cis: str
    verdict: str
    error_code: str
    gtin: str
    group: str
    raw_code: str
    def __init__(self, line: _Optional[int] = ..., code_index: _Optional[int] = ..., cis: _Optional[str] = ..., verdict: _Optional[str] = ..., error_code: _Optional[str] = ..., gtin: _Optional[str] = ..., group: _Optional[str] = ..., raw_code: _Optional[str] = ...) -> None: ...

class CodeCheckLog(_message.Message):
    __slots__ = ("check_id", "device_time_ms", "answered_ms", "nonce")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_MS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    device_time_ms: int
    answered_ms: int
    nonce: bytes
    def __init__(self, check_id: _Optional[str] = ..., device_time_ms: _Optional[int] = ..., answered_ms: _Optional[int] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class OfdExchangeLog(_message.Message):
    __slots__ = ("ofd_id", "number", "answered_ms", "command", "sealed")
    OFD_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_MS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    ofd_id: int
    number: int
    answered_ms: int
    command: int
    sealed: bytes
    def __init__(self, ofd_id: _Optional[int] = ..., number: _Optional[int] = ..., answered_ms: _Optional[int] = ..., command: _Optional[int] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class OfdExchange(_message.Message):
    __slots__ = ("token", "reqnum", "command", "answer", "next_token", "state")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQNUM_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    token: int
    reqnum: int
    command: int
    answer: bytes
    next_token: int
    state: OfdRegisterState
    def __init__(self, token: _Optional[int] = ..., reqnum: _Optional[int] = ..., command: _Optional[int] = ..., answer: _Optional[bytes] = ..., next_token: _Optional[int] = ..., state: _Optional[_Union[OfdRegisterState, _Mapping]] = ...) -> None: ...

class OfdOperationCounters(_message.Message):
    __slots__ = ("operation", "count", "sum", "offline_count", "discounts", "discount_count", "markups", "markup_count", "change", "payments", "lines_sum", "lines_count")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MARKUPS_FIELD_NUMBER: _ClassVar[int]
    MARKUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    LINES_SUM_FIELD_NUMBER: _ClassVar[int]
    LINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    operation: int
    count: int
    sum: int
    offline_count: int
    discounts: int
    discount_count: int
    markups: int
    markup_count: int
    change: int
    payments: _containers.RepeatedCompositeFieldContainer[OfdPaymentCounter]
    lines_sum: int
    lines_count: int
    def __init__(self, operation: _Optional[int] = ..., count: _Optional[int] = ..., sum: _Optional[int] = ..., offline_count: _Optional[int] = ..., discounts: _Optional[int] = ..., discount_count: _Optional[int] = ..., markups: _Optional[int] = ..., markup_count: _Optional[int] = ..., change: _Optional[int] = ..., payments: _Optional[_Iterable[_Union[OfdPaymentCounter, _Mapping]]] = ..., lines_sum: _Optional[int] = ..., lines_count: _Optional[int] = ...) -> None: ...

class OfdPaymentCounter(_message.Message):
    __slots__ = ("type", "sum", "count")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    type: int
    sum: int
    count: int
    def __init__(self, type: _Optional[int] = ..., sum: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class OfdTaxCounter(_message.Message):
    __slots__ = ("tax_type", "percent", "operation", "turnover", "sum")
    TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TURNOVER_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    tax_type: int
    percent: int
    operation: int
    turnover: int
    sum: int
    def __init__(self, tax_type: _Optional[int] = ..., percent: _Optional[int] = ..., operation: _Optional[int] = ..., turnover: _Optional[int] = ..., sum: _Optional[int] = ...) -> None: ...

class OfdSectionCounter(_message.Message):
    __slots__ = ("section_code", "operation", "count", "sum")
    SECTION_CODE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    section_code: str
    operation: int
    count: int
    sum: int
    def __init__(self, section_code: _Optional[str] = ..., operation: _Optional[int] = ..., count: _Optional[int] = ..., sum: _Optional[int] = ...) -> None: ...

class OfdCashCounter(_message.Message):
    __slots__ = ("operation", "count", "sum", "offline_count")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    operation: int
    count: int
    sum: int
    offline_count: int
    def __init__(self, operation: _Optional[int] = ..., count: _Optional[int] = ..., sum: _Optional[int] = ..., offline_count: _Optional[int] = ...) -> None: ...

class OfdTotal(_message.Message):
    __slots__ = ("operation", "count", "sum")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    operation: int
    count: int
    sum: int
    def __init__(self, operation: _Optional[int] = ..., count: _Optional[int] = ..., sum: _Optional[int] = ...) -> None: ...

class OfdShiftCounters(_message.Message):
    __slots__ = ("shift_number", "opened_ms", "closed_ms", "operations", "taxes", "sections", "cash", "cash_sum", "documents", "annulled", "start_totals", "first_document_number", "last_document_number", "other_document_numbers")
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPENED_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_MS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    CASH_FIELD_NUMBER: _ClassVar[int]
    CASH_SUM_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    ANNULLED_FIELD_NUMBER: _ClassVar[int]
    START_TOTALS_FIELD_NUMBER: _ClassVar[int]
    FIRST_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OTHER_DOCUMENT_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    shift_number: int
    opened_ms: int
    closed_ms: int
    operations: _containers.RepeatedCompositeFieldContainer[OfdOperationCounters]
    taxes: _containers.RepeatedCompositeFieldContainer[OfdTaxCounter]
    sections: _containers.RepeatedCompositeFieldContainer[OfdSectionCounter]
    cash: _containers.RepeatedCompositeFieldContainer[OfdCashCounter]
    cash_sum: int
    documents: int
    annulled: _containers.RepeatedCompositeFieldContainer[OfdTotal]
    start_totals: _containers.RepeatedCompositeFieldContainer[OfdTotal]
    first_document_number: int
    last_document_number: int
    other_document_numbers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, shift_number: _Optional[int] = ..., opened_ms: _Optional[int] = ..., closed_ms: _Optional[int] = ..., operations: _Optional[_Iterable[_Union[OfdOperationCounters, _Mapping]]] = ..., taxes: _Optional[_Iterable[_Union[OfdTaxCounter, _Mapping]]] = ..., sections: _Optional[_Iterable[_Union[OfdSectionCounter, _Mapping]]] = ..., cash: _Optional[_Iterable[_Union[OfdCashCounter, _Mapping]]] = ..., cash_sum: _Optional[int] = ..., documents: _Optional[int] = ..., annulled: _Optional[_Iterable[_Union[OfdTotal, _Mapping]]] = ..., start_totals: _Optional[_Iterable[_Union[OfdTotal, _Mapping]]] = ..., first_document_number: _Optional[int] = ..., last_document_number: _Optional[int] = ..., other_document_numbers: _Optional[_Iterable[int]] = ...) -> None: ...

class OfdLastTicket(_message.Message):
    __slots__ = ("shift_number", "document_number", "fiscal_sign", "operation", "total", "cash", "offline", "annulled", "payments")
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FISCAL_SIGN_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CASH_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    ANNULLED_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    shift_number: int
    document_number: int
    fiscal_sign: str
    operation: int
    total: int
    cash: int
    offline: bool
    annulled: bool
    payments: _containers.RepeatedCompositeFieldContainer[OfdPaymentCounter]
    def __init__(self, shift_number: _Optional[int] = ..., document_number: _Optional[int] = ..., fiscal_sign: _Optional[str] = ..., operation: _Optional[int] = ..., total: _Optional[int] = ..., cash: _Optional[int] = ..., offline: _Optional[bool] = ..., annulled: _Optional[bool] = ..., payments: _Optional[_Iterable[_Union[OfdPaymentCounter, _Mapping]]] = ...) -> None: ...

class OfdRegisterState(_message.Message):
    __slots__ = ("shift_open", "shift", "document_number", "last_ticket", "ticket_totals", "cash_totals", "bound_taxes", "printed_document_number", "shift_document_number")
    SHIFT_OPEN_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_TICKET_FIELD_NUMBER: _ClassVar[int]
    TICKET_TOTALS_FIELD_NUMBER: _ClassVar[int]
    CASH_TOTALS_FIELD_NUMBER: _ClassVar[int]
    BOUND_TAXES_FIELD_NUMBER: _ClassVar[int]
    PRINTED_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SHIFT_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    shift_open: bool
    shift: OfdShiftCounters
    document_number: int
    last_ticket: OfdLastTicket
    ticket_totals: _containers.RepeatedCompositeFieldContainer[OfdTotal]
    cash_totals: _containers.RepeatedCompositeFieldContainer[OfdTotal]
    bound_taxes: _containers.RepeatedCompositeFieldContainer[Tax]
    printed_document_number: int
    shift_document_number: int
    def __init__(self, shift_open: _Optional[bool] = ..., shift: _Optional[_Union[OfdShiftCounters, _Mapping]] = ..., document_number: _Optional[int] = ..., last_ticket: _Optional[_Union[OfdLastTicket, _Mapping]] = ..., ticket_totals: _Optional[_Iterable[_Union[OfdTotal, _Mapping]]] = ..., cash_totals: _Optional[_Iterable[_Union[OfdTotal, _Mapping]]] = ..., bound_taxes: _Optional[_Iterable[_Union[Tax, _Mapping]]] = ..., printed_document_number: _Optional[int] = ..., shift_document_number: _Optional[int] = ...) -> None: ...
