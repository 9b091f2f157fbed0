from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommandType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_SYSTEM: _ClassVar[CommandType]
    COMMAND_TICKET: _ClassVar[CommandType]
    COMMAND_CLOSE_SHIFT: _ClassVar[CommandType]
    COMMAND_REPORT: _ClassVar[CommandType]
    COMMAND_NOMENCLATURE: _ClassVar[CommandType]
    COMMAND_INFO: _ClassVar[CommandType]
    COMMAND_MONEY_PLACEMENT: _ClassVar[CommandType]
    COMMAND_CANCEL_TICKET: _ClassVar[CommandType]
    COMMAND_AUTH: _ClassVar[CommandType]
    COMMAND_RESERVED: _ClassVar[CommandType]

class ResultType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_TYPE_OK: _ClassVar[ResultType]
    RESULT_TYPE_UNKNOWN_ID: _ClassVar[ResultType]
    RESULT_TYPE_INVALID_TOKEN: _ClassVar[ResultType]
    RESULT_TYPE_PROTOCOL_ERROR: _ClassVar[ResultType]
    RESULT_TYPE_UNKNOWN_COMMAND: _ClassVar[ResultType]
    RESULT_TYPE_UNSUPPORTED_COMMAND: _ClassVar[ResultType]
    RESULT_TYPE_INVALID_CONFIGURATION: _ClassVar[ResultType]
    RESULT_TYPE_SSL_IS_NOT_ALLOWED: _ClassVar[ResultType]
    RESULT_TYPE_INVALID_REQUEST_NUMBER: _ClassVar[ResultType]
    RESULT_TYPE_INVALID_RETRY_REQUEST: _ClassVar[ResultType]
    RESULT_TYPE_CANT_CANCEL_TICKET: _ClassVar[ResultType]
    RESULT_TYPE_OPEN_SHIFT_TIMEOUT_EXPIRED: _ClassVar[ResultType]
    RESULT_TYPE_INVALID_LOGIN_PASSWORD: _ClassVar[ResultType]
    RESULT_TYPE_INCORRECT_REQUEST_DATA: _ClassVar[ResultType]
    RESULT_TYPE_NOT_ENOUGH_CASH: _ClassVar[ResultType]
    RESULT_TYPE_BLOCKED: _ClassVar[ResultType]
    RESULT_TYPE_SHIFT_ALREADY_OPENED: _ClassVar[ResultType]
    RESULT_TYPE_SAME_TAXPAYER_AND_CUSTOMER: _ClassVar[ResultType]
    RESULT_TYPE_ELEMENT_NOT_FOUND_BY_BARCODE: _ClassVar[ResultType]
    RESULT_TYPE_SERVICE_TEMPORARILY_UNAVAILABLE: _ClassVar[ResultType]
    RESULT_TYPE_UNKNOWN_ERROR: _ClassVar[ResultType]

class OperationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_BUY: _ClassVar[OperationType]
    OPERATION_BUY_RETURN: _ClassVar[OperationType]
    OPERATION_SELL: _ClassVar[OperationType]
    OPERATION_SELL_RETURN: _ClassVar[OperationType]

class PaymentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_CASH: _ClassVar[PaymentType]
    PAYMENT_CARD: _ClassVar[PaymentType]
    PAYMENT_CREDIT: _ClassVar[PaymentType]
    PAYMENT_TARE: _ClassVar[PaymentType]
    PAYMENT_MOBILE: _ClassVar[PaymentType]

class DomainType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOMAIN_TRADING: _ClassVar[DomainType]
    DOMAIN_SERVICES: _ClassVar[DomainType]
    DOMAIN_GASOIL: _ClassVar[DomainType]
    DOMAIN_HOTELS: _ClassVar[DomainType]
    DOMAIN_TAXI: _ClassVar[DomainType]
    DOMAIN_PARKING: _ClassVar[DomainType]

class TaxType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAX_TYPE_VAT: _ClassVar[TaxType]

class TaxationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAXATION_STS: _ClassVar[TaxationType]
    TAXATION_RTS: _ClassVar[TaxationType]
    TAXATION_TRFF: _ClassVar[TaxationType]
    TAXATION_TRBP: _ClassVar[TaxationType]

class UserRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USER_ROLE_PAYMASTER: _ClassVar[UserRole]
    USER_ROLE_CHIEF_PAYMASTER: _ClassVar[UserRole]
    USER_ROLE_ADMINISTRATOR: _ClassVar[UserRole]

class TicketAdType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_AD_OFD: _ClassVar[TicketAdType]
    TICKET_AD_ORG: _ClassVar[TicketAdType]
    TICKET_AD_POS: _ClassVar[TicketAdType]
    TICKET_AD_KKM: _ClassVar[TicketAdType]
    TICKET_AD_INFO: _ClassVar[TicketAdType]

class MoneyPlacementType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MONEY_PLACEMENT_DEPOSIT: _ClassVar[MoneyPlacementType]
    MONEY_PLACEMENT_WITHDRAWAL: _ClassVar[MoneyPlacementType]

class ReportType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_Z: _ClassVar[ReportType]
    REPORT_X: _ClassVar[ReportType]
COMMAND_SYSTEM: CommandType
COMMAND_TICKET: CommandType
COMMAND_CLOSE_SHIFT: CommandType
COMMAND_REPORT: CommandType
COMMAND_NOMENCLATURE: CommandType
COMMAND_INFO: CommandType
COMMAND_MONEY_PLACEMENT: CommandType
COMMAND_CANCEL_TICKET: CommandType
COMMAND_AUTH: CommandType
COMMAND_RESERVED: CommandType
RESULT_TYPE_OK: ResultType
RESULT_TYPE_UNKNOWN_ID: ResultType
RESULT_TYPE_INVALID_TOKEN: ResultType
RESULT_TYPE_PROTOCOL_ERROR: ResultType
RESULT_TYPE_UNKNOWN_COMMAND: ResultType
RESULT_TYPE_UNSUPPORTED_COMMAND: ResultType
RESULT_TYPE_INVALID_CONFIGURATION: ResultType
RESULT_TYPE_SSL_IS_NOT_ALLOWED: ResultType
RESULT_TYPE_INVALID_REQUEST_NUMBER: ResultType
RESULT_TYPE_INVALID_RETRY_REQUEST: ResultType
RESULT_TYPE_CANT_CANCEL_TICKET: ResultType
RESULT_TYPE_OPEN_SHIFT_TIMEOUT_EXPIRED: ResultType
RESULT_TYPE_INVALID_LOGIN_PASSWORD: ResultType
RESULT_TYPE_INCORRECT_REQUEST_DATA: ResultType
RESULT_TYPE_NOT_ENOUGH_CASH: ResultType
RESULT_TYPE_BLOCKED: ResultType
RESULT_TYPE_SHIFT_ALREADY_OPENED: ResultType
RESULT_TYPE_SAME_TAXPAYER_AND_CUSTOMER: ResultType
RESULT_TYPE_ELEMENT_NOT_FOUND_BY_BARCODE: ResultType
RESULT_TYPE_SERVICE_TEMPORARILY_UNAVAILABLE: ResultType
RESULT_TYPE_UNKNOWN_ERROR: ResultType
OPERATION_BUY: OperationType
OPERATION_BUY_RETURN: OperationType
OPERATION_SELL: OperationType
OPERATION_SELL_RETURN: OperationType
PAYMENT_CASH: PaymentType
PAYMENT_CARD: PaymentType
PAYMENT_CREDIT: PaymentType
PAYMENT_TARE: PaymentType
PAYMENT_MOBILE: PaymentType
DOMAIN_TRADING: DomainType
DOMAIN_SERVICES: DomainType
DOMAIN_GASOIL: DomainType
DOMAIN_HOTELS: DomainType
DOMAIN_TAXI: DomainType
DOMAIN_PARKING: DomainType
TAX_TYPE_VAT: TaxType
TAXATION_STS: TaxationType
TAXATION_RTS: TaxationType
TAXATION_TRFF: TaxationType
TAXATION_TRBP: TaxationType
USER_ROLE_PAYMASTER: UserRole
USER_ROLE_CHIEF_PAYMASTER: UserRole
USER_ROLE_ADMINISTRATOR: UserRole
TICKET_AD_OFD: TicketAdType
TICKET_AD_ORG: TicketAdType
TICKET_AD_POS: TicketAdType
TICKET_AD_KKM: TicketAdType
TICKET_AD_INFO: TicketAdType
MONEY_PLACEMENT_DEPOSIT: MoneyPlacementType
MONEY_PLACEMENT_WITHDRAWAL: MoneyPlacementType
REPORT_Z: ReportType
REPORT_X: ReportType

class Result(_message.Message):
    __slots__ = ("result_code", "result_text")
    RESULT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESULT_TEXT_FIELD_NUMBER: _ClassVar[int]
    result_code: int
    result_text: str
    def __init__(self, result_code: _Optional[int] = ..., result_text: _Optional[str] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("command", "ticket", "close_shift", "report", "nomenclature", "service", "money_placement", "auth")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SHIFT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    NOMENCLATURE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MONEY_PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    command: CommandType
    ticket: TicketRequest
    close_shift: CloseShiftRequest
    report: ReportRequest
    nomenclature: NomenclatureRequest
    service: ServiceRequest
    money_placement: MoneyPlacementRequest
    auth: AuthRequest
    def __init__(self, command: _Optional[_Union[CommandType, str]] = ..., ticket: _Optional[_Union[TicketRequest, _Mapping]] = ..., close_shift: _Optional[_Union[CloseShiftRequest, _Mapping]] = ..., report: _Optional[_Union[ReportRequest, _Mapping]] = ..., nomenclature: _Optional[_Union[NomenclatureRequest, _Mapping]] = ..., service: _Optional[_Union[ServiceRequest, _Mapping]] = ..., money_placement: _Optional[_Union[MoneyPlacementRequest, _Mapping]] = ..., auth: _Optional[_Union[AuthRequest, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("command", "result", "ticket", "report", "nomenclature", "service", "auth")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    NOMENCLATURE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    command: CommandType
    result: Result
    ticket: TicketResponse
    report: ReportResponse
    nomenclature: NomenclatureResponse
    service: ServiceResponse
    auth: AuthResponse
    def __init__(self, command: _Optional[_Union[CommandType, str]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., ticket: _Optional[_Union[TicketResponse, _Mapping]] = ..., report: _Optional[_Union[ReportResponse, _Mapping]] = ..., nomenclature: _Optional[_Union[NomenclatureResponse, _Mapping]] = ..., service: _Optional[_Union[ServiceResponse, _Mapping]] = ..., auth: _Optional[_Union[AuthResponse, _Mapping]] = ...) -> None: ...

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...

class Time(_message.Message):
    __slots__ = ("hour", "minute", "second")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    hour: int
    minute: int
    second: int
    def __init__(self, hour: _Optional[int] = ..., minute: _Optional[int] = ..., second: _Optional[int] = ...) -> None: ...

class DateTime(_message.Message):
    __slots__ = ("date", "time")
    DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    date: Date
    time: Time
    def __init__(self, date: _Optional[_Union[Date, _Mapping]] = ..., time: _Optional[_Union[Time, _Mapping]] = ...) -> None: ...

class Money(_message.Message):
    __slots__ = ("bills", "coins")
    BILLS_FIELD_NUMBER: _ClassVar[int]
    COINS_FIELD_NUMBER: _ClassVar[int]
    bills: int
    coins: int
    def __init__(self, bills: _Optional[int] = ..., coins: _Optional[int] = ...) -> None: ...

class Operator(_message.Message):
    __slots__ = ("code", "name")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    code: int
    name: str
    def __init__(self, code: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class KeyValuePair(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class TicketAdInfo(_message.Message):
    __slots__ = ("type", "version")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    type: TicketAdType
    version: int
    def __init__(self, type: _Optional[_Union[TicketAdType, str]] = ..., version: _Optional[int] = ...) -> None: ...

class TicketAd(_message.Message):
    __slots__ = ("info", "text")
    INFO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    info: TicketAdInfo
    text: str
    def __init__(self, info: _Optional[_Union[TicketAdInfo, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class TicketRequest(_message.Message):
    __slots__ = ("operation", "date_time", "operator", "domain", "items", "payments", "taxes", "amounts", "extension_options", "offline_ticket_number", "printed_document_number_old", "printed_ticket", "ad_infos", "fr_shift_number", "shift_document_number", "printed_document_number", "parent_ticket")
    class Tax(_message.Message):
        __slots__ = ("tax_type", "taxation_type", "percent", "sum", "is_in_total_sum")
        TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
        TAXATION_TYPE_FIELD_NUMBER: _ClassVar[int]
        PERCENT_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        IS_IN_TOTAL_SUM_FIELD_NUMBER: _ClassVar[int]
        tax_type: int
        taxation_type: int
        percent: int
        sum: Money
        is_in_total_sum: bool
        def __init__(self, tax_type: _Optional[int] = ..., taxation_type: _Optional[int] = ..., percent: _Optional[int] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., is_in_total_sum: _Optional[bool] = ...) -> None: ...
    class Modifier(_message.Message):
        __slots__ = ("name", "sum", "taxes", "auxiliary")
        NAME_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        TAXES_FIELD_NUMBER: _ClassVar[int]
        AUXILIARY_FIELD_NUMBER: _ClassVar[int]
        name: str
        sum: Money
        taxes: _containers.RepeatedCompositeFieldContainer[TicketRequest.Tax]
        auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
        def __init__(self, name: _Optional[str] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., taxes: _Optional[_Iterable[_Union[TicketRequest.Tax, _Mapping]]] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ...) -> None: ...
    class Commodity(_message.Message):
        __slots__ = ("code", "name", "section_code", "quantity", "price", "sum", "taxes", "excise_stamp", "auxiliary", "physical_label", "product_id", "barcode", "measure_unit_code", "list_excise_stamp", "ntin")
        CODE_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        SECTION_CODE_FIELD_NUMBER: _ClassVar[int]
        QUANTITY_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        TAXES_FIELD_NUMBER: _ClassVar[int]
        EXCISE_STAMP_FIELD_NUMBER: _ClassVar[int]
        AUXILIARY_FIELD_NUMBER: _ClassVar[int]
        PHYSICAL_LABEL_FIELD_NUMBER: _ClassVar[int]
        PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
        BARCODE_FIELD_NUMBER: _ClassVar[int]
        MEASURE_UNIT_CODE_FIELD_NUMBER: _ClassVar[int]
        LIST_EXCISE_STAMP_FIELD_NUMBER: _ClassVar[int]
        NTIN_FIELD_NUMBER: _ClassVar[int]
        code: int
        name: str
        section_code: str
        quantity: int
        price: Money
        sum: Money
        taxes: _containers.RepeatedCompositeFieldContainer[TicketRequest.Tax]
        excise_stamp: str
        auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
        physical_label: str
        product_id: str
        barcode: str
        measure_unit_code: str
        list_excise_stamp: _containers.RepeatedScalarFieldContainer[str]
        ntin: str
        def __init__(self, code: _Optional[int] = ..., name: _Optional[str] = ..., section_code: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[_Union[Money, _Mapping]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., taxes: _Optional[_Iterable[_Union[TicketRequest.Tax, _Mapping]]] = ..., excise_stamp: _Optional[str] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ..., physical_label: _Optional[str] = ..., product_id: _Optional[str] = ..., barcode: _Optional[str] = ..., measure_unit_code: _Optional[str] = ..., list_excise_stamp: _Optional[_Iterable[str]] = ..., ntin: _Optional[str] = ...) -> None: ...
    class StornoCommodity(_message.Message):
        __slots__ = ("name", "section_code", "quantity", "price", "sum", "taxes", "excise_stamp", "auxiliary", "physical_label", "product_id", "barcode", "measure_unit_code", "list_excise_stamp", "ntin")
        NAME_FIELD_NUMBER: _ClassVar[int]
        SECTION_CODE_FIELD_NUMBER: _ClassVar[int]
        QUANTITY_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        TAXES_FIELD_NUMBER: _ClassVar[int]
        EXCISE_STAMP_FIELD_NUMBER: _ClassVar[int]
        AUXILIARY_FIELD_NUMBER: _ClassVar[int]
        PHYSICAL_LABEL_FIELD_NUMBER: _ClassVar[int]
        PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
        BARCODE_FIELD_NUMBER: _ClassVar[int]
        MEASURE_UNIT_CODE_FIELD_NUMBER: _ClassVar[int]
        LIST_EXCISE_STAMP_FIELD_NUMBER: _ClassVar[int]
        NTIN_FIELD_NUMBER: _ClassVar[int]
        name: str
        section_code: str
        quantity: int
        price: Money
        sum: Money
        taxes: _containers.RepeatedCompositeFieldContainer[TicketRequest.Tax]
        excise_stamp: str
        auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
        physical_label: str
        product_id: str
        barcode: str
        measure_unit_code: str
        list_excise_stamp: _containers.RepeatedScalarFieldContainer[str]
        ntin: str
        def __init__(self, name: _Optional[str] = ..., section_code: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[_Union[Money, _Mapping]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., taxes: _Optional[_Iterable[_Union[TicketRequest.Tax, _Mapping]]] = ..., excise_stamp: _Optional[str] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ..., physical_label: _Optional[str] = ..., product_id: _Optional[str] = ..., barcode: _Optional[str] = ..., measure_unit_code: _Optional[str] = ..., list_excise_stamp: _Optional[_Iterable[str]] = ..., ntin: _Optional[str] = ...) -> None: ...
    class Item(_message.Message):
        __slots__ = ("type", "commodity", "storno_commodity", "markup", "storno_markup", "discount", "storno_discount")
        class ItemType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            ITEM_TYPE_COMMODITY: _ClassVar[TicketRequest.Item.ItemType]
            ITEM_TYPE_STORNO_COMMODITY: _ClassVar[TicketRequest.Item.ItemType]
            ITEM_TYPE_MARKUP: _ClassVar[TicketRequest.Item.ItemType]
            ITEM_TYPE_STORNO_MARKUP: _ClassVar[TicketRequest.Item.ItemType]
            ITEM_TYPE_DISCOUNT: _ClassVar[TicketRequest.Item.ItemType]
            ITEM_TYPE_STORNO_DISCOUNT: _ClassVar[TicketRequest.Item.ItemType]
        ITEM_TYPE_COMMODITY: TicketRequest.Item.ItemType
        ITEM_TYPE_STORNO_COMMODITY: TicketRequest.Item.ItemType
        ITEM_TYPE_MARKUP: TicketRequest.Item.ItemType
        ITEM_TYPE_STORNO_MARKUP: TicketRequest.Item.ItemType
        ITEM_TYPE_DISCOUNT: TicketRequest.Item.ItemType
        ITEM_TYPE_STORNO_DISCOUNT: TicketRequest.Item.ItemType
        TYPE_FIELD_NUMBER: _ClassVar[int]
        COMMODITY_FIELD_NUMBER: _ClassVar[int]
        STORNO_COMMODITY_FIELD_NUMBER: _ClassVar[int]
        MARKUP_FIELD_NUMBER: _ClassVar[int]
        STORNO_MARKUP_FIELD_NUMBER: _ClassVar[int]
        DISCOUNT_FIELD_NUMBER: _ClassVar[int]
        STORNO_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
        type: TicketRequest.Item.ItemType
        commodity: TicketRequest.Commodity
        storno_commodity: TicketRequest.StornoCommodity
        markup: TicketRequest.Modifier
        storno_markup: TicketRequest.Modifier
        discount: TicketRequest.Modifier
        storno_discount: TicketRequest.Modifier
        def __init__(self, type: _Optional[_Union[TicketRequest.Item.ItemType, str]] = ..., commodity: _Optional[_Union[TicketRequest.Commodity, _Mapping]] = ..., storno_commodity: _Optional[_Union[TicketRequest.StornoCommodity, _Mapping]] = ..., markup: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ..., storno_markup: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ..., discount: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ..., storno_discount: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ...) -> None: ...
    class Domain(_message.Message):
        __slots__ = ("type", "services", "gasoil", "taxi", "parking")
        class Services(_message.Message):
            __slots__ = ("account_number",)
            ACCOUNT_NUMBER_FIELD_NUMBER: _ClassVar[int]
            account_number: str
            def __init__(self, account_number: _Optional[str] = ...) -> None: ...
        class GasOil(_message.Message):
            __slots__ = ("correction_number", "correction_sum", "card_number")
            CORRECTION_NUMBER_FIELD_NUMBER: _ClassVar[int]
            CORRECTION_SUM_FIELD_NUMBER: _ClassVar[int]
            CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
            correction_number: str
            correction_sum: Money
            card_number: str
            def __init__(self, correction_number: _Optional[str] = ..., correction_sum: _Optional[_Union[Money, _Mapping]] = ..., card_number: _Optional[str] = ...) -> None: ...
        class Taxi(_message.Message):
            __slots__ = ("car_number", "is_order", "current_fee")
            CAR_NUMBER_FIELD_NUMBER: _ClassVar[int]
            IS_ORDER_FIELD_NUMBER: _ClassVar[int]
            CURRENT_FEE_FIELD_NUMBER: _ClassVar[int]
            car_number: str
            is_order: bool
            current_fee: Money
            def __init__(self, car_number: _Optional[str] = ..., is_order: _Optional[bool] = ..., current_fee: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
        class Parking(_message.Message):
            __slots__ = ("begin_time", "end_time")
            BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
            END_TIME_FIELD_NUMBER: _ClassVar[int]
            begin_time: DateTime
            end_time: DateTime
            def __init__(self, begin_time: _Optional[_Union[DateTime, _Mapping]] = ..., end_time: _Optional[_Union[DateTime, _Mapping]] = ...) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        SERVICES_FIELD_NUMBER: _ClassVar[int]
        GASOIL_FIELD_NUMBER: _ClassVar[int]
        TAXI_FIELD_NUMBER: _ClassVar[int]
        PARKING_FIELD_NUMBER: _ClassVar[int]
        type: DomainType
        services: TicketRequest.Domain.Services
        gasoil: TicketRequest.Domain.GasOil
        taxi: TicketRequest.Domain.Taxi
        parking: TicketRequest.Domain.Parking
        def __init__(self, type: _Optional[_Union[DomainType, str]] = ..., services: _Optional[_Union[TicketRequest.Domain.Services, _Mapping]] = ..., gasoil: _Optional[_Union[TicketRequest.Domain.GasOil, _Mapping]] = ..., taxi: _Optional[_Union[TicketRequest.Domain.Taxi, _Mapping]] = ..., parking: _Optional[_Union[TicketRequest.Domain.Parking, _Mapping]] = ...) -> None: ...
    class Payment(_message.Message):
        __slots__ = ("type", "sum", "card_payment_fields", "mobile_payment_fields")
        class CardPaymentFields(_message.Message):
            __slots__ = ("pos_terminal_id", "pos_card_type", "pos_autorization_code", "pos_rrn", "pos_receipt_number")
            POS_TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
            POS_CARD_TYPE_FIELD_NUMBER: _ClassVar[int]
            POS_AUTORIZATION_CODE_FIELD_NUMBER: _ClassVar[int]
            POS_RRN_FIELD_NUMBER: _ClassVar[int]
            POS_RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
            pos_terminal_id: str
            pos_card_type: str
            pos_autorization_code: int
            pos_rrn: int
            pos_receipt_number: int
            def __init__(self, pos_terminal_id: _Optional[str] = ..., pos_card_type: _Optional[str] = ..., pos_autorization_code: _Optional[int] = ..., pos_rrn: _Optional[int] = ..., pos_receipt_number: _Optional[int] = ...) -> None: ...
        class MobilePaymentFields(_message.Message):
            __slots__ = ("qr_type", "qr_id")
            QR_TYPE_FIELD_NUMBER: _ClassVar[int]
            QR_ID_FIELD_NUMBER: _ClassVar[int]
            qr_type: str
            qr_id: str
            def __init__(self, qr_type: _Optional[str] = ..., qr_id: _Optional[str] = ...) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        CARD_PAYMENT_FIELDS_FIELD_NUMBER: _ClassVar[int]
        MOBILE_PAYMENT_FIELDS_FIELD_NUMBER: _ClassVar[int]
        type: PaymentType
        sum: Money
        card_payment_fields: TicketRequest.Payment.CardPaymentFields
        mobile_payment_fields: TicketRequest.Payment.MobilePaymentFields
        def __init__(self, type: _Optional[_Union[PaymentType, str]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., card_payment_fields: _Optional[_Union[TicketRequest.Payment.CardPaymentFields, _Mapping]] = ..., mobile_payment_fields: _Optional[_Union[TicketRequest.Payment.MobilePaymentFields, _Mapping]] = ...) -> None: ...
    class Amounts(_message.Message):
        __slots__ = ("total", "taken", "change", "markup", "discount")
        TOTAL_FIELD_NUMBER: _ClassVar[int]
        TAKEN_FIELD_NUMBER: _ClassVar[int]
        CHANGE_FIELD_NUMBER: _ClassVar[int]
        MARKUP_FIELD_NUMBER: _ClassVar[int]
        DISCOUNT_FIELD_NUMBER: _ClassVar[int]
        total: Money
        taken: Money
        change: Money
        markup: TicketRequest.Modifier
        discount: TicketRequest.Modifier
        def __init__(self, total: _Optional[_Union[Money, _Mapping]] = ..., taken: _Optional[_Union[Money, _Mapping]] = ..., change: _Optional[_Union[Money, _Mapping]] = ..., markup: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ..., discount: _Optional[_Union[TicketRequest.Modifier, _Mapping]] = ...) -> None: ...
    class ExtensionOptions(_message.Message):
        __slots__ = ("customer_email", "customer_phone", "auxiliary", "customer_iin_or_bin")
        CUSTOMER_EMAIL_FIELD_NUMBER: _ClassVar[int]
        CUSTOMER_PHONE_FIELD_NUMBER: _ClassVar[int]
        AUXILIARY_FIELD_NUMBER: _ClassVar[int]
        CUSTOMER_IIN_OR_BIN_FIELD_NUMBER: _ClassVar[int]
        customer_email: str
        customer_phone: str
        auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
        customer_iin_or_bin: str
        def __init__(self, customer_email: _Optional[str] = ..., customer_phone: _Optional[str] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ..., customer_iin_or_bin: _Optional[str] = ...) -> None: ...
    class ParentTicket(_message.Message):
        __slots__ = ("parent_ticket_number", "parent_ticket_data_time", "kgd_kkm_id", "parent_ticket_total", "parent_ticket_is_offline")
        PARENT_TICKET_NUMBER_FIELD_NUMBER: _ClassVar[int]
        PARENT_TICKET_DATA_TIME_FIELD_NUMBER: _ClassVar[int]
        KGD_KKM_ID_FIELD_NUMBER: _ClassVar[int]
        PARENT_TICKET_TOTAL_FIELD_NUMBER: _ClassVar[int]
        PARENT_TICKET_IS_OFFLINE_FIELD_NUMBER: _ClassVar[int]
        parent_ticket_number: str
        parent_ticket_data_time: DateTime
        kgd_kkm_id: str
        parent_ticket_total: Money
        parent_ticket_is_offline: bool
        def __init__(self, parent_ticket_number: _Optional[str] = ..., parent_ticket_data_time: _Optional[_Union[DateTime, _Mapping]] = ..., kgd_kkm_id: _Optional[str] = ..., parent_ticket_total: _Optional[_Union[Money, _Mapping]] = ..., parent_ticket_is_offline: _Optional[bool] = ...) -> None: ...
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    AMOUNTS_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_TICKET_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PRINTED_DOCUMENT_NUMBER_OLD_FIELD_NUMBER: _ClassVar[int]
    PRINTED_TICKET_FIELD_NUMBER: _ClassVar[int]
    AD_INFOS_FIELD_NUMBER: _ClassVar[int]
    FR_SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SHIFT_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PRINTED_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PARENT_TICKET_FIELD_NUMBER: _ClassVar[int]
    operation: OperationType
    date_time: DateTime
    operator: Operator
    domain: TicketRequest.Domain
    items: _containers.RepeatedCompositeFieldContainer[TicketRequest.Item]
    payments: _containers.RepeatedCompositeFieldContainer[TicketRequest.Payment]
    taxes: _containers.RepeatedCompositeFieldContainer[TicketRequest.Tax]
    amounts: TicketRequest.Amounts
    extension_options: TicketRequest.ExtensionOptions
    offline_ticket_number: int
    printed_document_number_old: str
    printed_ticket: str
    ad_infos: _containers.RepeatedCompositeFieldContainer[TicketAdInfo]
    fr_shift_number: int
    shift_document_number: int
    printed_document_number: int
    parent_ticket: TicketRequest.ParentTicket
    def __init__(self, operation: _Optional[_Union[OperationType, str]] = ..., date_time: _Optional[_Union[DateTime, _Mapping]] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., domain: _Optional[_Union[TicketRequest.Domain, _Mapping]] = ..., items: _Optional[_Iterable[_Union[TicketRequest.Item, _Mapping]]] = ..., payments: _Optional[_Iterable[_Union[TicketRequest.Payment, _Mapping]]] = ..., taxes: _Optional[_Iterable[_Union[TicketRequest.Tax, _Mapping]]] = ..., amounts: _Optional[_Union[TicketRequest.Amounts, _Mapping]] = ..., extension_options: _Optional[_Union[TicketRequest.ExtensionOptions, _Mapping]] = ..., offline_ticket_number: _Optional[int] = ..., printed_document_number_old: _Optional[str] = ..., printed_ticket: _Optional[str] = ..., ad_infos: _Optional[_Iterable[_Union[TicketAdInfo, _Mapping]]] = ..., fr_shift_number: _Optional[int] = ..., shift_document_number: _Optional[int] = ..., printed_document_number: _Optional[int] = ..., parent_ticket: _Optional[_Union[TicketRequest.ParentTicket, _Mapping]] = ...) -> None: ...

class TicketResponse(_message.Message):
    __slots__ = ("ticket_number", "qr_code")
    TICKET_NUMBER_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    ticket_number: str
    qr_code: bytes
    def __init__(self, ticket_number: _Optional[str] = ..., qr_code: _Optional[bytes] = ...) -> None: ...

class ZXReport(_message.Message):
    __slots__ = ("date_time", "shift_number", "sections", "operations", "discounts", "markups", "total_result", "taxes", "start_shift_non_nullable_sums", "ticket_operations", "money_placements", "annulled_tickets", "cash_sum", "revenue", "non_nullable_sums", "open_shift_time", "close_shift_time", "checksum")
    class Operation(_message.Message):
        __slots__ = ("operation", "count", "sum")
        OPERATION_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        operation: OperationType
        count: int
        sum: Money
        def __init__(self, operation: _Optional[_Union[OperationType, str]] = ..., count: _Optional[int] = ..., sum: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
    class Section(_message.Message):
        __slots__ = ("section_code", "operations")
        SECTION_CODE_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        section_code: str
        operations: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
        def __init__(self, section_code: _Optional[str] = ..., operations: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ...) -> None: ...
    class Tax(_message.Message):
        __slots__ = ("tax_type", "percent", "operations")
        class TaxOperation(_message.Message):
            __slots__ = ("operation", "turnover", "sum", "turnover_without_tax")
            OPERATION_FIELD_NUMBER: _ClassVar[int]
            TURNOVER_FIELD_NUMBER: _ClassVar[int]
            SUM_FIELD_NUMBER: _ClassVar[int]
            TURNOVER_WITHOUT_TAX_FIELD_NUMBER: _ClassVar[int]
            operation: OperationType
            turnover: Money
            sum: Money
            turnover_without_tax: Money
            def __init__(self, operation: _Optional[_Union[OperationType, str]] = ..., turnover: _Optional[_Union[Money, _Mapping]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., turnover_without_tax: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
        TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
        PERCENT_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        tax_type: int
        percent: int
        operations: _containers.RepeatedCompositeFieldContainer[ZXReport.Tax.TaxOperation]
        def __init__(self, tax_type: _Optional[int] = ..., percent: _Optional[int] = ..., operations: _Optional[_Iterable[_Union[ZXReport.Tax.TaxOperation, _Mapping]]] = ...) -> None: ...
    class NonNullableSum(_message.Message):
        __slots__ = ("operation", "sum")
        OPERATION_FIELD_NUMBER: _ClassVar[int]
        SUM_FIELD_NUMBER: _ClassVar[int]
        operation: OperationType
        sum: Money
        def __init__(self, operation: _Optional[_Union[OperationType, str]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
    class TicketOperation(_message.Message):
        __slots__ = ("operation", "tickets_total_count", "tickets_count", "tickets_sum", "payments", "offline_count", "discount_sum", "markup_sum", "change_sum")
        class Payment(_message.Message):
            __slots__ = ("payment", "sum", "count")
            PAYMENT_FIELD_NUMBER: _ClassVar[int]
            SUM_FIELD_NUMBER: _ClassVar[int]
            COUNT_FIELD_NUMBER: _ClassVar[int]
            payment: PaymentType
            sum: Money
            count: int
            def __init__(self, payment: _Optional[_Union[PaymentType, str]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...
        OPERATION_FIELD_NUMBER: _ClassVar[int]
        TICKETS_TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
        TICKETS_COUNT_FIELD_NUMBER: _ClassVar[int]
        TICKETS_SUM_FIELD_NUMBER: _ClassVar[int]
        PAYMENTS_FIELD_NUMBER: _ClassVar[int]
        OFFLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
        DISCOUNT_SUM_FIELD_NUMBER: _ClassVar[int]
        MARKUP_SUM_FIELD_NUMBER: _ClassVar[int]
        CHANGE_SUM_FIELD_NUMBER: _ClassVar[int]
        operation: OperationType
        tickets_total_count: int
        tickets_count: int
        tickets_sum: Money
        payments: _containers.RepeatedCompositeFieldContainer[ZXReport.TicketOperation.Payment]
        offline_count: int
        discount_sum: Money
        markup_sum: Money
        change_sum: Money
        def __init__(self, operation: _Optional[_Union[OperationType, str]] = ..., tickets_total_count: _Optional[int] = ..., tickets_count: _Optional[int] = ..., tickets_sum: _Optional[_Union[Money, _Mapping]] = ..., payments: _Optional[_Iterable[_Union[ZXReport.TicketOperation.Payment, _Mapping]]] = ..., offline_count: _Optional[int] = ..., discount_sum: _Optional[_Union[Money, _Mapping]] = ..., markup_sum: _Optional[_Union[Money, _Mapping]] = ..., change_sum: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
    class MoneyPlacement(_message.Message):
        __slots__ = ("operation", "operations_total_count", "operations_count", "operations_sum", "offline_count")
        OPERATION_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_COUNT_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_SUM_FIELD_NUMBER: _ClassVar[int]
        OFFLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
        operation: MoneyPlacementType
        operations_total_count: int
        operations_count: int
        operations_sum: Money
        offline_count: int
        def __init__(self, operation: _Optional[_Union[MoneyPlacementType, str]] = ..., operations_total_count: _Optional[int] = ..., operations_count: _Optional[int] = ..., operations_sum: _Optional[_Union[Money, _Mapping]] = ..., offline_count: _Optional[int] = ...) -> None: ...
    class AnnulledTickets(_message.Message):
        __slots__ = ("total", "count", "operations")
        TOTAL_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        total: int
        count: int
        operations: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
        def __init__(self, total: _Optional[int] = ..., count: _Optional[int] = ..., operations: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ...) -> None: ...
    class Revenue(_message.Message):
        __slots__ = ("sum", "is_negative")
        SUM_FIELD_NUMBER: _ClassVar[int]
        IS_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
        sum: Money
        is_negative: bool
        def __init__(self, sum: _Optional[_Union[Money, _Mapping]] = ..., is_negative: _Optional[bool] = ...) -> None: ...
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    MARKUPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RESULT_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    START_SHIFT_NON_NULLABLE_SUMS_FIELD_NUMBER: _ClassVar[int]
    TICKET_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    MONEY_PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    ANNULLED_TICKETS_FIELD_NUMBER: _ClassVar[int]
    CASH_SUM_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    NON_NULLABLE_SUMS_FIELD_NUMBER: _ClassVar[int]
    OPEN_SHIFT_TIME_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SHIFT_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    date_time: DateTime
    shift_number: int
    sections: _containers.RepeatedCompositeFieldContainer[ZXReport.Section]
    operations: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
    discounts: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
    markups: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
    total_result: _containers.RepeatedCompositeFieldContainer[ZXReport.Operation]
    taxes: _containers.RepeatedCompositeFieldContainer[ZXReport.Tax]
    start_shift_non_nullable_sums: _containers.RepeatedCompositeFieldContainer[ZXReport.NonNullableSum]
    ticket_operations: _containers.RepeatedCompositeFieldContainer[ZXReport.TicketOperation]
    money_placements: _containers.RepeatedCompositeFieldContainer[ZXReport.MoneyPlacement]
    annulled_tickets: ZXReport.AnnulledTickets
    cash_sum: Money
    revenue: ZXReport.Revenue
    non_nullable_sums: _containers.RepeatedCompositeFieldContainer[ZXReport.NonNullableSum]
    open_shift_time: DateTime
    close_shift_time: DateTime
    checksum: str
    def __init__(self, date_time: _Optional[_Union[DateTime, _Mapping]] = ..., shift_number: _Optional[int] = ..., sections: _Optional[_Iterable[_Union[ZXReport.Section, _Mapping]]] = ..., operations: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ..., discounts: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ..., markups: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ..., total_result: _Optional[_Iterable[_Union[ZXReport.Operation, _Mapping]]] = ..., taxes: _Optional[_Iterable[_Union[ZXReport.Tax, _Mapping]]] = ..., start_shift_non_nullable_sums: _Optional[_Iterable[_Union[ZXReport.NonNullableSum, _Mapping]]] = ..., ticket_operations: _Optional[_Iterable[_Union[ZXReport.TicketOperation, _Mapping]]] = ..., money_placements: _Optional[_Iterable[_Union[ZXReport.MoneyPlacement, _Mapping]]] = ..., annulled_tickets: _Optional[_Union[ZXReport.AnnulledTickets, _Mapping]] = ..., cash_sum: _Optional[_Union[Money, _Mapping]] = ..., revenue: _Optional[_Union[ZXReport.Revenue, _Mapping]] = ..., non_nullable_sums: _Optional[_Iterable[_Union[ZXReport.NonNullableSum, _Mapping]]] = ..., open_shift_time: _Optional[_Union[DateTime, _Mapping]] = ..., close_shift_time: _Optional[_Union[DateTime, _Mapping]] = ..., checksum: _Optional[str] = ...) -> None: ...

class CloseShiftRequest(_message.Message):
    __slots__ = ("close_time", "is_offline", "fr_shift_number", "withdraw_money", "z_report", "operator", "printed_document_number")
    CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_OFFLINE_FIELD_NUMBER: _ClassVar[int]
    FR_SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_MONEY_FIELD_NUMBER: _ClassVar[int]
    Z_REPORT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PRINTED_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    close_time: DateTime
    is_offline: bool
    fr_shift_number: int
    withdraw_money: bool
    z_report: ZXReport
    operator: Operator
    printed_document_number: int
    def __init__(self, close_time: _Optional[_Union[DateTime, _Mapping]] = ..., is_offline: _Optional[bool] = ..., fr_shift_number: _Optional[int] = ..., withdraw_money: _Optional[bool] = ..., z_report: _Optional[_Union[ZXReport, _Mapping]] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., printed_document_number: _Optional[int] = ...) -> None: ...

class MoneyPlacementRequest(_message.Message):
    __slots__ = ("datetime", "operation", "sum", "is_offline", "fr_shift_number", "printed_document_number", "operator")
    DATETIME_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    IS_OFFLINE_FIELD_NUMBER: _ClassVar[int]
    FR_SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PRINTED_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    datetime: DateTime
    operation: MoneyPlacementType
    sum: Money
    is_offline: bool
    fr_shift_number: int
    printed_document_number: int
    operator: Operator
    def __init__(self, datetime: _Optional[_Union[DateTime, _Mapping]] = ..., operation: _Optional[_Union[MoneyPlacementType, str]] = ..., sum: _Optional[_Union[Money, _Mapping]] = ..., is_offline: _Optional[bool] = ..., fr_shift_number: _Optional[int] = ..., printed_document_number: _Optional[int] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("report", "date_time", "is_offline", "zx_report")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_OFFLINE_FIELD_NUMBER: _ClassVar[int]
    ZX_REPORT_FIELD_NUMBER: _ClassVar[int]
    report: ReportType
    date_time: DateTime
    is_offline: bool
    zx_report: ZXReport
    def __init__(self, report: _Optional[_Union[ReportType, str]] = ..., date_time: _Optional[_Union[DateTime, _Mapping]] = ..., is_offline: _Optional[bool] = ..., zx_report: _Optional[_Union[ZXReport, _Mapping]] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("report", "zx_report")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    ZX_REPORT_FIELD_NUMBER: _ClassVar[int]
    report: ReportType
    zx_report: ZXReport
    def __init__(self, report: _Optional[_Union[ReportType, str]] = ..., zx_report: _Optional[_Union[ZXReport, _Mapping]] = ...) -> None: ...

class KkmRegInfo(_message.Message):
    __slots__ = ("point_of_payment_number", "terminal_number", "fns_kkm_id", "serial_number", "kkm_id")
    POINT_OF_PAYMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FNS_KKM_ID_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KKM_ID_FIELD_NUMBER: _ClassVar[int]
    point_of_payment_number: str
    terminal_number: str
    fns_kkm_id: str
    serial_number: str
    kkm_id: str
    def __init__(self, point_of_payment_number: _Optional[str] = ..., terminal_number: _Optional[str] = ..., fns_kkm_id: _Optional[str] = ..., serial_number: _Optional[str] = ..., kkm_id: _Optional[str] = ...) -> None: ...

class PosRegInfo(_message.Message):
    __slots__ = ("title", "address", "address_kz", "latitude", "longitude")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_KZ_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    title: str
    address: str
    address_kz: str
    latitude: int
    longitude: int
    def __init__(self, title: _Optional[str] = ..., address: _Optional[str] = ..., address_kz: _Optional[str] = ..., latitude: _Optional[int] = ..., longitude: _Optional[int] = ...) -> None: ...

class OrgRegInfo(_message.Message):
    __slots__ = ("title", "address", "inn", "taxation_type", "okved", "address_kz", "tenant_id")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INN_FIELD_NUMBER: _ClassVar[int]
    TAXATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    OKVED_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_KZ_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    title: str
    address: str
    inn: str
    taxation_type: int
    okved: str
    address_kz: str
    tenant_id: int
    def __init__(self, title: _Optional[str] = ..., address: _Optional[str] = ..., inn: _Optional[str] = ..., taxation_type: _Optional[int] = ..., okved: _Optional[str] = ..., address_kz: _Optional[str] = ..., tenant_id: _Optional[int] = ...) -> None: ...

class BindedTaxation(_message.Message):
    __slots__ = ("taxation_type", "taxes")
    class BindedTax(_message.Message):
        __slots__ = ("tax_type", "percent")
        TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
        PERCENT_FIELD_NUMBER: _ClassVar[int]
        tax_type: int
        percent: int
        def __init__(self, tax_type: _Optional[int] = ..., percent: _Optional[int] = ...) -> None: ...
    TAXATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    taxation_type: int
    taxes: _containers.RepeatedCompositeFieldContainer[BindedTaxation.BindedTax]
    def __init__(self, taxation_type: _Optional[int] = ..., taxes: _Optional[_Iterable[_Union[BindedTaxation.BindedTax, _Mapping]]] = ...) -> None: ...

class ServiceRequest(_message.Message):
    __slots__ = ("comm_quality", "security_stats", "offline_period", "nomenclature_version", "ticket_ad_infos", "get_reg_info", "get_binded_taxation", "marker", "software_information_old", "software_information", "reg_info", "auxiliary")
    class CommQuality(_message.Message):
        __slots__ = ("avg_connect_time", "avg_ping", "loss_ratio")
        AVG_CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
        AVG_PING_FIELD_NUMBER: _ClassVar[int]
        LOSS_RATIO_FIELD_NUMBER: _ClassVar[int]
        avg_connect_time: int
        avg_ping: int
        loss_ratio: int
        def __init__(self, avg_connect_time: _Optional[int] = ..., avg_ping: _Optional[int] = ..., loss_ratio: _Optional[int] = ...) -> None: ...
    class SecurityStats(_message.Message):
        __slots__ = ("geo_position", "os_version")
        class GeoPosition(_message.Message):
            __slots__ = ("latitude", "longitude", "source")
            LATITUDE_FIELD_NUMBER: _ClassVar[int]
            LONGITUDE_FIELD_NUMBER: _ClassVar[int]
            SOURCE_FIELD_NUMBER: _ClassVar[int]
            latitude: int
            longitude: int
            source: str
            def __init__(self, latitude: _Optional[int] = ..., longitude: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...
        GEO_POSITION_FIELD_NUMBER: _ClassVar[int]
        OS_VERSION_FIELD_NUMBER: _ClassVar[int]
        geo_position: ServiceRequest.SecurityStats.GeoPosition
        os_version: str
        def __init__(self, geo_position: _Optional[_Union[ServiceRequest.SecurityStats.GeoPosition, _Mapping]] = ..., os_version: _Optional[str] = ...) -> None: ...
    class OfflinePeriod(_message.Message):
        __slots__ = ("begin_time", "end_time")
        BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
        END_TIME_FIELD_NUMBER: _ClassVar[int]
        begin_time: DateTime
        end_time: DateTime
        def __init__(self, begin_time: _Optional[_Union[DateTime, _Mapping]] = ..., end_time: _Optional[_Union[DateTime, _Mapping]] = ...) -> None: ...
    class SoftwareInformation(_message.Message):
        __slots__ = ("module_infos", "hardware_arch", "os_family", "os_version", "os_extended_info", "runtime_version", "partner_id")
        class ModuleInformation(_message.Message):
            __slots__ = ("name", "version", "build_info", "device_info", "extended_info", "build_arch")
            class DeviceInformation(_message.Message):
                __slots__ = ("manufacturer", "model", "firmware_version")
                MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
                MODEL_FIELD_NUMBER: _ClassVar[int]
                FIRMWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
                manufacturer: str
                model: str
                firmware_version: str
                def __init__(self, manufacturer: _Optional[str] = ..., model: _Optional[str] = ..., firmware_version: _Optional[str] = ...) -> None: ...
            NAME_FIELD_NUMBER: _ClassVar[int]
            VERSION_FIELD_NUMBER: _ClassVar[int]
            BUILD_INFO_FIELD_NUMBER: _ClassVar[int]
            DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
            EXTENDED_INFO_FIELD_NUMBER: _ClassVar[int]
            BUILD_ARCH_FIELD_NUMBER: _ClassVar[int]
            name: str
            version: str
            build_info: str
            device_info: ServiceRequest.SoftwareInformation.ModuleInformation.DeviceInformation
            extended_info: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
            build_arch: str
            def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., build_info: _Optional[str] = ..., device_info: _Optional[_Union[ServiceRequest.SoftwareInformation.ModuleInformation.DeviceInformation, _Mapping]] = ..., extended_info: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ..., build_arch: _Optional[str] = ...) -> None: ...
        MODULE_INFOS_FIELD_NUMBER: _ClassVar[int]
        HARDWARE_ARCH_FIELD_NUMBER: _ClassVar[int]
        OS_FAMILY_FIELD_NUMBER: _ClassVar[int]
        OS_VERSION_FIELD_NUMBER: _ClassVar[int]
        OS_EXTENDED_INFO_FIELD_NUMBER: _ClassVar[int]
        RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
        PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
        module_infos: _containers.RepeatedCompositeFieldContainer[ServiceRequest.SoftwareInformation.ModuleInformation]
        hardware_arch: str
        os_family: str
        os_version: str
        os_extended_info: str
        runtime_version: str
        partner_id: int
        def __init__(self, module_infos: _Optional[_Iterable[_Union[ServiceRequest.SoftwareInformation.ModuleInformation, _Mapping]]] = ..., hardware_arch: _Optional[str] = ..., os_family: _Optional[str] = ..., os_version: _Optional[str] = ..., os_extended_info: _Optional[str] = ..., runtime_version: _Optional[str] = ..., partner_id: _Optional[int] = ...) -> None: ...
    class RegInfo(_message.Message):
        __slots__ = ("kkm", "org")
        KKM_FIELD_NUMBER: _ClassVar[int]
        ORG_FIELD_NUMBER: _ClassVar[int]
        kkm: KkmRegInfo
        org: OrgRegInfo
        def __init__(self, kkm: _Optional[_Union[KkmRegInfo, _Mapping]] = ..., org: _Optional[_Union[OrgRegInfo, _Mapping]] = ...) -> None: ...
    COMM_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SECURITY_STATS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    NOMENCLATURE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TICKET_AD_INFOS_FIELD_NUMBER: _ClassVar[int]
    GET_REG_INFO_FIELD_NUMBER: _ClassVar[int]
    GET_BINDED_TAXATION_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_INFORMATION_OLD_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    REG_INFO_FIELD_NUMBER: _ClassVar[int]
    AUXILIARY_FIELD_NUMBER: _ClassVar[int]
    comm_quality: ServiceRequest.CommQuality
    security_stats: ServiceRequest.SecurityStats
    offline_period: ServiceRequest.OfflinePeriod
    nomenclature_version: int
    ticket_ad_infos: _containers.RepeatedCompositeFieldContainer[TicketAdInfo]
    get_reg_info: bool
    get_binded_taxation: bool
    marker: int
    software_information_old: bytes
    software_information: ServiceRequest.SoftwareInformation
    reg_info: ServiceRequest.RegInfo
    auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
    def __init__(self, comm_quality: _Optional[_Union[ServiceRequest.CommQuality, _Mapping]] = ..., security_stats: _Optional[_Union[ServiceRequest.SecurityStats, _Mapping]] = ..., offline_period: _Optional[_Union[ServiceRequest.OfflinePeriod, _Mapping]] = ..., nomenclature_version: _Optional[int] = ..., ticket_ad_infos: _Optional[_Iterable[_Union[TicketAdInfo, _Mapping]]] = ..., get_reg_info: _Optional[bool] = ..., get_binded_taxation: _Optional[bool] = ..., marker: _Optional[int] = ..., software_information_old: _Optional[bytes] = ..., software_information: _Optional[_Union[ServiceRequest.SoftwareInformation, _Mapping]] = ..., reg_info: _Optional[_Union[ServiceRequest.RegInfo, _Mapping]] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ...) -> None: ...

class ServiceResponse(_message.Message):
    __slots__ = ("ticket_ads", "reg_info", "binded_taxation", "last_document_info", "auxiliary")
    class RegInfo(_message.Message):
        __slots__ = ("kkm", "pos", "org")
        KKM_FIELD_NUMBER: _ClassVar[int]
        POS_FIELD_NUMBER: _ClassVar[int]
        ORG_FIELD_NUMBER: _ClassVar[int]
        kkm: KkmRegInfo
        pos: PosRegInfo
        org: OrgRegInfo
        def __init__(self, kkm: _Optional[_Union[KkmRegInfo, _Mapping]] = ..., pos: _Optional[_Union[PosRegInfo, _Mapping]] = ..., org: _Optional[_Union[OrgRegInfo, _Mapping]] = ...) -> None: ...
    class LastDocumentInfo(_message.Message):
        __slots__ = ("fr_shift_number", "printed_document_number")
        FR_SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
        PRINTED_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
        fr_shift_number: int
        printed_document_number: int
        def __init__(self, fr_shift_number: _Optional[int] = ..., printed_document_number: _Optional[int] = ...) -> None: ...
    TICKET_ADS_FIELD_NUMBER: _ClassVar[int]
    REG_INFO_FIELD_NUMBER: _ClassVar[int]
    BINDED_TAXATION_FIELD_NUMBER: _ClassVar[int]
    LAST_DOCUMENT_INFO_FIELD_NUMBER: _ClassVar[int]
    AUXILIARY_FIELD_NUMBER: _ClassVar[int]
    ticket_ads: _containers.RepeatedCompositeFieldContainer[TicketAd]
    reg_info: ServiceResponse.RegInfo
    binded_taxation: BindedTaxation
    last_document_info: ServiceResponse.LastDocumentInfo
    auxiliary: _containers.RepeatedCompositeFieldContainer[KeyValuePair]
    def __init__(self, ticket_ads: _Optional[_Iterable[_Union[TicketAd, _Mapping]]] = ..., reg_info: _Optional[_Union[ServiceResponse.RegInfo, _Mapping]] = ..., binded_taxation: _Optional[_Union[BindedTaxation, _Mapping]] = ..., last_document_info: _Optional[_Union[ServiceResponse.LastDocumentInfo, _Mapping]] = ..., auxiliary: _Optional[_Iterable[_Union[KeyValuePair, _Mapping]]] = ...) -> None: ...

class NomenclatureRequest(_message.Message):
    __slots__ = ("current_version", "barcode")
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BARCODE_FIELD_NUMBER: _ClassVar[int]
    current_version: int
    barcode: str
    def __init__(self, current_version: _Optional[int] = ..., barcode: _Optional[str] = ...) -> None: ...

class NomenclatureResponse(_message.Message):
    __slots__ = ("version", "created_time", "elements", "result")
    class ElementType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ELEMENT_GROUP: _ClassVar[NomenclatureResponse.ElementType]
        ELEMENT_ITEM: _ClassVar[NomenclatureResponse.ElementType]
    ELEMENT_GROUP: NomenclatureResponse.ElementType
    ELEMENT_ITEM: NomenclatureResponse.ElementType
    class NomenclatureResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NOMENCLATURE_OK: _ClassVar[NomenclatureResponse.NomenclatureResult]
        NOMENCLATURE_VERSION_IS_ACTUAL: _ClassVar[NomenclatureResponse.NomenclatureResult]
        NOMENCLATURE_NO_VERSION: _ClassVar[NomenclatureResponse.NomenclatureResult]
        NOMENCLATURE_ELEMENT_NOT_FOUND_BY_BARCODE: _ClassVar[NomenclatureResponse.NomenclatureResult]
    NOMENCLATURE_OK: NomenclatureResponse.NomenclatureResult
    NOMENCLATURE_VERSION_IS_ACTUAL: NomenclatureResponse.NomenclatureResult
    NOMENCLATURE_NO_VERSION: NomenclatureResponse.NomenclatureResult
    NOMENCLATURE_ELEMENT_NOT_FOUND_BY_BARCODE: NomenclatureResponse.NomenclatureResult
    class Tax(_message.Message):
        __slots__ = ("taxation_type", "tax_type", "tax_percent")
        TAXATION_TYPE_FIELD_NUMBER: _ClassVar[int]
        TAX_TYPE_FIELD_NUMBER: _ClassVar[int]
        TAX_PERCENT_FIELD_NUMBER: _ClassVar[int]
        taxation_type: TaxationType
        tax_type: TaxType
        tax_percent: int
        def __init__(self, taxation_type: _Optional[_Union[TaxationType, str]] = ..., tax_type: _Optional[_Union[TaxType, str]] = ..., tax_percent: _Optional[int] = ...) -> None: ...
    class Item(_message.Message):
        __slots__ = ("article", "barcode", "description", "purchase_price", "sell_price", "discount_percent", "discount_sum", "markup_percent", "markup_sum", "taxes", "measure_count", "measure_title", "measure_fractional", "measure_unit_code", "ntin", "is_markedeac", "is_social")
        ARTICLE_FIELD_NUMBER: _ClassVar[int]
        BARCODE_FIELD_NUMBER: _ClassVar[int]
        DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
        PURCHASE_PRICE_FIELD_NUMBER: _ClassVar[int]
        SELL_PRICE_FIELD_NUMBER: _ClassVar[int]
        DISCOUNT_PERCENT_FIELD_NUMBER: _ClassVar[int]
        DISCOUNT_SUM_FIELD_NUMBER: _ClassVar[int]
        MARKUP_PERCENT_FIELD_NUMBER: _ClassVar[int]
        MARKUP_SUM_FIELD_NUMBER: _ClassVar[int]
        TAXES_FIELD_NUMBER: _ClassVar[int]
        MEASURE_COUNT_FIELD_NUMBER: _ClassVar[int]
        MEASURE_TITLE_FIELD_NUMBER: _ClassVar[int]
        MEASURE_FRACTIONAL_FIELD_NUMBER: _ClassVar[int]
        MEASURE_UNIT_CODE_FIELD_NUMBER: _ClassVar[int]
        NTIN_FIELD_NUMBER: _ClassVar[int]
        IS_MARKEDEAC_FIELD_NUMBER: _ClassVar[int]
        IS_SOCIAL_FIELD_NUMBER: _ClassVar[int]
        article: str
        barcode: str
        description: str
        purchase_price: Money
        sell_price: Money
        discount_percent: int
        discount_sum: Money
        markup_percent: int
        markup_sum: Money
        taxes: _containers.RepeatedCompositeFieldContainer[NomenclatureResponse.Tax]
        measure_count: int
        measure_title: str
        measure_fractional: bool
        measure_unit_code: str
        ntin: str
        is_markedeac: bool
        is_social: bool
        def __init__(self, article: _Optional[str] = ..., barcode: _Optional[str] = ..., description: _Optional[str] = ..., purchase_price: _Optional[_Union[Money, _Mapping]] = ..., sell_price: _Optional[_Union[Money, _Mapping]] = ..., discount_percent: _Optional[int] = ..., discount_sum: _Optional[_Union[Money, _Mapping]] = ..., markup_percent: _Optional[int] = ..., markup_sum: _Optional[_Union[Money, _Mapping]] = ..., taxes: _Optional[_Iterable[_Union[NomenclatureResponse.Tax, _Mapping]]] = ..., measure_count: _Optional[int] = ..., measure_title: _Optional[str] = ..., measure_fractional: _Optional[bool] = ..., measure_unit_code: _Optional[str] = ..., ntin: _Optional[str] = ..., is_markedeac: _Optional[bool] = ..., is_social: _Optional[bool] = ...) -> None: ...
    class Element(_message.Message):
        __slots__ = ("type", "title", "parent_group_id", "id", "item", "title_kk")
        TYPE_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        PARENT_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
        ID_FIELD_NUMBER: _ClassVar[int]
        ITEM_FIELD_NUMBER: _ClassVar[int]
        TITLE_KK_FIELD_NUMBER: _ClassVar[int]
        type: NomenclatureResponse.ElementType
        title: str
        parent_group_id: int
        id: int
        item: NomenclatureResponse.Item
        title_kk: str
        def __init__(self, type: _Optional[_Union[NomenclatureResponse.ElementType, str]] = ..., title: _Optional[str] = ..., parent_group_id: _Optional[int] = ..., id: _Optional[int] = ..., item: _Optional[_Union[NomenclatureResponse.Item, _Mapping]] = ..., title_kk: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    version: int
    created_time: DateTime
    elements: _containers.RepeatedCompositeFieldContainer[NomenclatureResponse.Element]
    result: NomenclatureResponse.NomenclatureResult
    def __init__(self, version: _Optional[int] = ..., created_time: _Optional[_Union[DateTime, _Mapping]] = ..., elements: _Optional[_Iterable[_Union[NomenclatureResponse.Element, _Mapping]]] = ..., result: _Optional[_Union[NomenclatureResponse.NomenclatureResult, str]] = ...) -> None: ...

class NomenclatureBarcodeRequest(_message.Message):
    __slots__ = ("barcode",)
    BARCODE_FIELD_NUMBER: _ClassVar[int]
    barcode: str
    def __init__(self, barcode: _Optional[str] = ...) -> None: ...

class NomenclatureBarcodeResponse(_message.Message):
    __slots__ = ("id", "barcode", "ntin_cod", "name_ru", "name_kk")
    ID_FIELD_NUMBER: _ClassVar[int]
    BARCODE_FIELD_NUMBER: _ClassVar[int]
    NTIN_COD_FIELD_NUMBER: _ClassVar[int]
    NAME_RU_FIELD_NUMBER: _ClassVar[int]
    NAME_KK_FIELD_NUMBER: _ClassVar[int]
    id: int
    barcode: str
    ntin_cod: str
    name_ru: str
    name_kk: str
    def __init__(self, id: _Optional[int] = ..., barcode: _Optional[str] = ..., ntin_cod: _Optional[str] = ..., name_ru: _Optional[str] = ..., name_kk: _Optional[str] = ...) -> None: ...

class AuthRequest(_message.Message):
    __slots__ = ("login", "password")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    login: str
    password: str
    def __init__(self, login: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class AuthResponse(_message.Message):
    __slots__ = ("result", "operator_code", "operator_name", "roles")
    class AuthResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        AUTH_OK: _ClassVar[AuthResponse.AuthResult]
        AUTH_INVALID_LOGIN_PASSWORD: _ClassVar[AuthResponse.AuthResult]
    AUTH_OK: AuthResponse.AuthResult
    AUTH_INVALID_LOGIN_PASSWORD: AuthResponse.AuthResult
    RESULT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_CODE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    result: AuthResponse.AuthResult
    operator_code: int
    operator_name: str
    roles: _containers.RepeatedScalarFieldContainer[UserRole]
    def __init__(self, result: _Optional[_Union[AuthResponse.AuthResult, str]] = ..., operator_code: _Optional[int] = ..., operator_name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[UserRole, str]]] = ...) -> None: ...
