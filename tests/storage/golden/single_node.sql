CREATE DATABASE IF NOT EXISTS tracegate;

CREATE TABLE IF NOT EXISTS tracegate.schema_migrations
(
    id String,
    description String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (id)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.schema_migrations MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

CREATE TABLE IF NOT EXISTS tracegate.events
(
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    kind LowCardinality(String),
    event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    envelope_hash FixedString(32),
    prev_hash FixedString(32),
    signature String,
    key_id LowCardinality(String),
    event String CODEC(ZSTD),
    fiscal_sign String,
    gateway_id LowCardinality(String)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, seq)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.receipts
(
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    shift_number UInt32,
    document_number UInt64,
    shift_document_number UInt32,
    operation LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    total Int64,
    change Int64,
    cash Int64,
    card Int64,
    credit Int64,
    tare Int64,
    mobile Int64,
    vat Int64,
    line_count UInt32,
    marked_code_count UInt32,
    parent_device_id String,
    parent_shift_number UInt32,
    parent_document_number UInt64,
    parent_fiscal_sign String,
    cashier String,
    fiscal_sign String,
    findings Array(LowCardinality(String))
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, shift_number, document_number)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.receipt_lines
(
    seller_tin String,
    day Date,
    gtin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    shift_number UInt32,
    document_number UInt64,
    line_no UInt32,
    operation LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    name String,
    quantity Int64,
    price Int64,
    discount Int64,
    markup Int64,
    sum Int64,
    vat Int64,
    vat_rate_bp UInt32,
    marking_codes Array(String)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (seller_tin, day, gtin)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.shifts
(
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    shift_number UInt32,
    seq UInt64,
    closed_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    cashier String,
    receipt_count UInt32,
    sell_count UInt32,
    sell_sum Int64,
    sell_return_count UInt32,
    sell_return_sum Int64,
    buy_count UInt32,
    buy_sum Int64,
    buy_return_count UInt32,
    buy_return_sum Int64,
    cash Int64,
    card Int64,
    credit Int64,
    tare Int64,
    mobile Int64,
    payments Map(LowCardinality(String), Int64),
    cash_deposits Int64,
    cash_withdrawals Int64,
    cash_in_drawer Int64,
    first_document_number UInt64,
    last_document_number UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(closed_at)
ORDER BY (seller_tin, device_id, shift_number)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.rejections
(
    device_id String,
    seq UInt64,
    received_at DateTime64(3, 'UTC'),
    error_code LowCardinality(String),
    detail String,
    envelope_hash String,
    seller_tin String,
    store_id LowCardinality(String),
    key_id String,
    gateway_id LowCardinality(String),
    envelope String CODEC(ZSTD)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (device_id, received_at)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.anomalies
(
    kind LowCardinality(String),
    detected_at DateTime64(3, 'UTC'),
    event_time DateTime64(3, 'UTC'),
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    accepted Bool,
    line Int32,
    cis String,
    detail String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(detected_at)
ORDER BY (kind, detected_at)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.devices
(
    device_id String,
    seller_tin String,
    store_id String,
    public_key_pem String,
    key_id String,
    status LowCardinality(String),
    updated_ms Int64
)
ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY (device_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.code_registry
(
    cis String,
    gtin String,
    owner_tin String,
    product_group LowCardinality(String),
    status LowCardinality(String),
    expires_on Nullable(Date),
    raw_code String,
    imported_at DateTime64(3, 'UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (cis)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.code_events
(
    cis String,
    event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    kind LowCardinality(String),
    verdict LowCardinality(String),
    error_code String,
    raw_code String CODEC(ZSTD),
    gtin String,
    product_group LowCardinality(String),
    seller_tin String,
    store_id String,
    device_id String,
    seq UInt64,
    document_number UInt64,
    line UInt32,
    check_id String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (cis, event_time)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS tracegate.code_status AS
SELECT
    cis,
    argMax(kind, (event_time, received_at, seq)) AS last_kind,
    argMax(verdict, (event_time, received_at, seq)) AS last_verdict,
    argMax(seller_tin, (event_time, received_at, seq)) AS last_seller_tin,
    argMax(store_id, (event_time, received_at, seq)) AS last_store_id,
    max(event_time) AS last_time,
    argMaxIf(kind, (event_time, received_at, seq), kind IN ('sale', 'return')) = 'sale' AS sold,
    countIf(kind = 'sale') AS sales,
    countIf(kind = 'return') AS returns,
    countIf(kind = 'check') AS checks,
    uniqExactIf((seller_tin, store_id), kind = 'sale') AS selling_stores
FROM tracegate.code_events
GROUP BY cis;

CREATE TABLE IF NOT EXISTS tracegate.access_tokens
(
    token_id String,
    token_hash FixedString(64),
    scope LowCardinality(String),
    seller_tin String,
    label String,
    created DateTime64(3, 'UTC'),
    expires Nullable(DateTime64(3, 'UTC')),
    revoked Bool,
    updated_ms Int64
)
ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY (token_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.audit_log
(
    at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    principal String,
    action LowCardinality(String),
    target String,
    detail String,
    remote String,
    gateway_id LowCardinality(String)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (at, action)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS tracegate.receipt_buyers
(
    seller_tin String,
    device_id String,
    seq UInt64,
    event_time DateTime64(3, 'UTC'),
    consent_purpose String,
    consent_expires_at DateTime64(3, 'UTC'),
    key_id LowCardinality(String),
    wrapped_key String,
    email String,
    phone String,
    iin String,
    email_hash String,
    phone_hash String,
    iin_hash String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, seq)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.receipt_buyers MODIFY TTL toDateTime(consent_expires_at) DELETE;

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS ai_label String;

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS ai_source LowCardinality(String);

ALTER TABLE tracegate.events ADD COLUMN IF NOT EXISTS protection LowCardinality(String);

CREATE VIEW IF NOT EXISTS tracegate.receipt_buyers_live AS SELECT * FROM tracegate.receipt_buyers WHERE consent_expires_at > now64(3);

CREATE VIEW IF NOT EXISTS tracegate.shift_reconciliation AS
SELECT
    s.seller_tin AS seller_tin, s.store_id AS store_id, s.device_id AS device_id,
    s.shift_number AS shift_number, s.seq AS seq, s.closed_at AS closed_at, s.received_at AS received_at,
    s.receipt_count AS z_receipt_count, r.receipt_count AS receipts_count,
    s.sell_count AS z_sell_count, r.sell_count AS receipts_sell_count, s.sell_sum AS z_sell_sum, r.sell_sum AS receipts_sell_sum,
    s.sell_return_count AS z_sell_return_count, r.sell_return_count AS receipts_sell_return_count, s.sell_return_sum AS z_sell_return_sum, r.sell_return_sum AS receipts_sell_return_sum,
    s.buy_count AS z_buy_count, r.buy_count AS receipts_buy_count, s.buy_sum AS z_buy_sum, r.buy_sum AS receipts_buy_sum,
    s.buy_return_count AS z_buy_return_count, r.buy_return_count AS receipts_buy_return_count, s.buy_return_sum AS z_buy_return_sum, r.buy_return_sum AS receipts_buy_return_sum,
    mapSort(mapFilter((k, v) -> v != 0, s.payments)) AS z_payments,
    mapSort(r.payments) AS receipts_payments,
    s.first_document_number AS first_document_number, s.last_document_number AS last_document_number,
    r.documents AS documents,
    (s.receipt_count != r.receipt_count OR s.sell_count != r.sell_count OR s.sell_sum != r.sell_sum OR s.sell_return_count != r.sell_return_count OR s.sell_return_sum != r.sell_return_sum OR s.buy_count != r.buy_count OR s.buy_sum != r.buy_sum OR s.buy_return_count != r.buy_return_count OR s.buy_return_sum != r.buy_return_sum
        OR mapSort(mapFilter((k, v) -> v != 0, s.payments)) != mapSort(r.payments)) AS mismatch
FROM tracegate.shifts AS s
LEFT JOIN (
    SELECT seller_tin, device_id, shift_number, count() AS receipt_count,
        countIf(operation = 'SELL') AS sell_count, sumIf(total, operation = 'SELL') AS sell_sum,
        countIf(operation = 'SELL_RETURN') AS sell_return_count, sumIf(total, operation = 'SELL_RETURN') AS sell_return_sum,
        countIf(operation = 'BUY') AS buy_count, sumIf(total, operation = 'BUY') AS buy_sum,
        countIf(operation = 'BUY_RETURN') AS buy_return_count, sumIf(total, operation = 'BUY_RETURN') AS buy_return_sum,
        mapFilter((k, v) -> v != 0, sumMap(map(operation || ':CASH', cash - change, operation || ':CARD', card, operation || ':CREDIT', credit, operation || ':TARE', tare, operation || ':MOBILE', mobile))) AS payments,
        groupArray(document_number) AS documents
    FROM tracegate.receipts
    GROUP BY seller_tin, device_id, shift_number
) AS r ON s.seller_tin = r.seller_tin AND s.device_id = r.device_id AND s.shift_number = r.shift_number;

CREATE VIEW IF NOT EXISTS tracegate.anomaly_queue AS
SELECT kind, detected_at, event_time, seller_tin, store_id, device_id, seq, line, cis, detail
FROM tracegate.anomalies
UNION ALL
SELECT 'shift_receipts_mismatch' AS kind, received_at AS detected_at, closed_at AS event_time, seller_tin,
    store_id, device_id, seq, toInt32(0) AS line, '' AS cis,
    concat('shift ', toString(shift_number), ': Z-report ', toString(z_receipt_count), ' receipts, ',
        toString(z_sell_sum), ' sold; stored receipts ', toString(receipts_count), ', ',
        toString(receipts_sell_sum), ' sold') AS detail
FROM tracegate.shift_reconciliation
WHERE mismatch;

ALTER TABLE tracegate.code_events ADD COLUMN IF NOT EXISTS gateway_id LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.code_events ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT if(gateway_id = '', received_at, now64(3)) CODEC(Delta, ZSTD);

ALTER TABLE tracegate.code_events ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

ALTER TABLE tracegate.code_events MATERIALIZE COLUMN inserted_at;

ALTER TABLE tracegate.code_events MATERIALIZE INDEX inserted_at_minmax;

CREATE TABLE IF NOT EXISTS tracegate.journal_receipts
(
    seller_tin String,
    store_id String,
    gateway_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String)),
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String,
    gtin String, `group` String)),
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_signature String,
    envelope_key_id String,
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64,
    discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String),
    code_check_id String, ai_label String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    stored_event String,
    protection String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_events TO tracegate.events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, 'receipt' AS kind, envelope_hash, envelope_prev_hash AS prev_hash,
    envelope_signature AS signature, envelope_key_id AS key_id, stored_event AS event, fiscal_sign,
    gateway_id, protection
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipts TO tracegate.receipts AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number, envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation, envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash, arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card, arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit, arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare, arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id, envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign, envelope_event_receipt_cashier AS cashier, fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipt_lines TO tracegate.receipt_lines AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, toDate(event_time) AS day, line.gtin AS gtin,
    envelope_event_receipt_shift_number AS shift_number, envelope_event_receipt_document_number AS document_number,
    toUInt32(line_no) AS line_no, transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    line.name AS name, line.quantity AS quantity, line.price AS price, line.discount AS discount,
    line.markup AS markup, line.sum AS sum, arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes, line.ai_label AS ai_label, if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source
FROM tracegate.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_no;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_code_events TO tracegate.code_events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, verdict.cis AS cis,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind, verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin, verdict.`group` AS product_group,
    envelope_event_receipt_document_number AS document_number, verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines),
       envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM tracegate.journal_receipts
ARRAY JOIN code_verdicts AS verdict;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies TO tracegate.anomalies AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, finding.kind AS kind, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at, true AS accepted,
    finding.line AS line, finding.cis AS cis, finding.detail AS detail
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;

ALTER TABLE tracegate.events MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.receipts MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.receipt_lines MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.shifts MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.rejections MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.anomalies MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.devices MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.code_registry MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.code_events MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.access_tokens MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.audit_log MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

ALTER TABLE tracegate.receipt_buyers MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

CREATE TABLE IF NOT EXISTS tracegate.device_keys
(
    device_id String,
    key_id String,
    public_key_pem String,
    revoked Bool,
    at_ms Int64
)
ENGINE = MergeTree()
ORDER BY (device_id, key_id)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.device_keys MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

INSERT INTO tracegate.device_keys (device_id, key_id, public_key_pem, revoked, at_ms) SELECT device_id, key_id, public_key_pem, status = 'revoked', updated_ms FROM tracegate.devices;

ALTER TABLE tracegate.devices ADD COLUMN IF NOT EXISTS protocol LowCardinality(String) DEFAULT 'tracegate';

ALTER TABLE tracegate.devices ADD COLUMN IF NOT EXISTS ofd_id UInt32 DEFAULT 0;

ALTER TABLE tracegate.devices ADD COLUMN IF NOT EXISTS kgd_number String DEFAULT '';

ALTER TABLE tracegate.devices ADD COLUMN IF NOT EXISTS ofd_token_mac String DEFAULT '';

ALTER TABLE tracegate.devices ADD COLUMN IF NOT EXISTS ofd_key_epoch UInt32 DEFAULT 0;

ALTER TABLE tracegate.events ADD COLUMN IF NOT EXISTS authentication LowCardinality(String) DEFAULT 'device_signature';

ALTER TABLE tracegate.events ADD COLUMN IF NOT EXISTS evidence String DEFAULT '' CODEC(ZSTD);

ALTER TABLE tracegate.receipts ADD COLUMN IF NOT EXISTS discount Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts ADD COLUMN IF NOT EXISTS markup Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts ADD COLUMN IF NOT EXISTS offline Bool DEFAULT false;

ALTER TABLE tracegate.receipts ADD COLUMN IF NOT EXISTS offline_number UInt32 DEFAULT 0;

ALTER TABLE tracegate.receipts ADD COLUMN IF NOT EXISTS parent_register_number String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS storno Bool DEFAULT false;

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS section_code LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS ntin String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS physical_label String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS product_id String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ADD COLUMN IF NOT EXISTS unit LowCardinality(String) DEFAULT '';

CREATE TABLE IF NOT EXISTS tracegate.ofd_exchanges
(
    ofd_id UInt32,
    device_id String,
    seller_tin String,
    number UInt64,
    answered_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    command UInt8,
    sealed String CODEC(ZSTD),
    gateway_id LowCardinality(String)
)
ENGINE = ReplacingMergeTree(number)
ORDER BY (ofd_id)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.ofd_exchanges MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipts;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipt_lines;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_code_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_anomalies;

DROP TABLE IF EXISTS tracegate.journal_receipts;

CREATE TABLE IF NOT EXISTS tracegate.journal_receipts
(
    seller_tin String,
    store_id String,
    gateway_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String)),
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String,
    gtin String, `group` String)),
    authentication String,
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_signature String,
    envelope_key_id String,
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64,
    discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String),
    code_check_id String, ai_label String, storno Bool, section_code String, ntin String,
    physical_label String, product_id String, unit String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    stored_event String,
    protection String,
    stored_evidence String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_events TO tracegate.events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, 'receipt' AS kind, envelope_hash, envelope_prev_hash AS prev_hash,
    envelope_signature AS signature, envelope_key_id AS key_id, stored_event AS event, fiscal_sign,
    gateway_id, protection, if(authentication = '', 'device_signature', authentication) AS authentication,
    stored_evidence AS evidence
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipts TO tracegate.receipts AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number, envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation, envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash, arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card, arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit, arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare, arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> if(l.storno, -1, 1) * arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)
       - arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_discount_taxes) + arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_markup_taxes)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id, envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign, envelope_event_receipt_cashier AS cashier, fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings, envelope_event_receipt_discount_sum AS discount,
    envelope_event_receipt_markup_sum AS markup, envelope_event_receipt_offline AS offline, envelope_event_receipt_offline_number AS offline_number,
    envelope_event_receipt_parent_register_number AS parent_register_number
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipt_lines TO tracegate.receipt_lines AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, toDate(event_time) AS day, line.gtin AS gtin,
    envelope_event_receipt_shift_number AS shift_number, envelope_event_receipt_document_number AS document_number,
    toUInt32(line_no) AS line_no, transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    line.name AS name, line.quantity AS quantity, line.price AS price, line.discount AS discount,
    line.markup AS markup, line.sum AS sum, arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes, line.ai_label AS ai_label,
    if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source, line.storno AS storno, line.section_code AS section_code,
    line.ntin AS ntin, line.physical_label AS physical_label, line.product_id AS product_id, line.unit AS unit
FROM tracegate.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_no;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_code_events TO tracegate.code_events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, verdict.cis AS cis,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind, verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin, verdict.`group` AS product_group,
    envelope_event_receipt_document_number AS document_number, verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines),
       envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM tracegate.journal_receipts
ARRAY JOIN code_verdicts AS verdict;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies TO tracegate.anomalies AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, finding.kind AS kind, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at, true AS accepted,
    finding.line AS line, finding.cis AS cis, finding.detail AS detail
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;

ALTER TABLE tracegate.anomalies ADD COLUMN IF NOT EXISTS other_seller_tin String DEFAULT '', ADD COLUMN IF NOT EXISTS other_store_id LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS facts String DEFAULT '';

DROP VIEW IF EXISTS tracegate.anomaly_queue;

CREATE VIEW IF NOT EXISTS tracegate.anomaly_queue AS
SELECT kind, detected_at, event_time, seller_tin, store_id, device_id, seq, line, cis, detail,
    other_seller_tin, other_store_id, facts
FROM tracegate.anomalies
UNION ALL
SELECT 'shift_receipts_mismatch' AS kind, received_at AS detected_at, closed_at AS event_time, seller_tin,
    store_id, device_id, seq, toInt32(0) AS line, '' AS cis,
    concat('shift ', toString(shift_number), ': Z-report ', toString(z_receipt_count), ' receipts, ',
        toString(z_sell_sum), ' sold; stored receipts ', toString(receipts_count), ', ',
        toString(receipts_sell_sum), ' sold') AS detail,
    '' AS other_seller_tin, '' AS other_store_id,
    toJSONString(map('shift_number', toString(shift_number), 'z_receipt_count', toString(z_receipt_count),
        'receipts_count', toString(receipts_count), 'z_sell_sum', toString(z_sell_sum),
        'receipts_sell_sum', toString(receipts_sell_sum))) AS facts
FROM tracegate.shift_reconciliation
WHERE mismatch;

ALTER TABLE tracegate.journal_receipts MODIFY COLUMN findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String, other_store_id String, facts String));

DROP VIEW IF EXISTS tracegate.journal_receipts_to_anomalies;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies
TO tracegate.anomalies AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, finding.kind AS kind, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at,
    true AS accepted, finding.line AS line, finding.cis AS cis, finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin, finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;

CREATE TABLE IF NOT EXISTS tracegate.anomaly_case_actions
(
    incident_id String,
    seller_tin String,
    action LowCardinality(String),
    assignee String,
    note String,
    actor String,
    actor_label String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree()
ORDER BY (incident_id, at)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.anomaly_case_actions MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipts;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipt_lines;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_code_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_anomalies;

DROP TABLE IF EXISTS tracegate.journal_receipts;

CREATE TABLE IF NOT EXISTS tracegate.journal_receipts
(
    seller_tin String,
    store_id String,
    gateway_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String,
    other_store_id String, facts String)),
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String,
    gtin String, `group` String)),
    authentication String,
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_signature String,
    envelope_key_id String,
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64,
    discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String),
    code_check_id String, ai_label String, storno Bool, section_code String, ntin String,
    physical_label String, product_id String, unit String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    stored_event String,
    protection String,
    stored_evidence String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_events TO tracegate.events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, 'receipt' AS kind, envelope_hash, envelope_prev_hash AS prev_hash,
    envelope_signature AS signature, envelope_key_id AS key_id, stored_event AS event, fiscal_sign,
    gateway_id, protection, if(authentication = '', 'device_signature', authentication) AS authentication,
    stored_evidence AS evidence
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipts TO tracegate.receipts AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number, envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation, envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash, arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card, arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit, arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare, arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> if(l.storno, -1, 1) * arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)
       - arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_discount_taxes) + arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_markup_taxes)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id, envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign, envelope_event_receipt_cashier AS cashier, fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings, envelope_event_receipt_discount_sum AS discount,
    envelope_event_receipt_markup_sum AS markup, envelope_event_receipt_offline AS offline, envelope_event_receipt_offline_number AS offline_number,
    envelope_event_receipt_parent_register_number AS parent_register_number
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipt_lines TO tracegate.receipt_lines AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, toDate(event_time) AS day, line.gtin AS gtin,
    envelope_event_receipt_shift_number AS shift_number, envelope_event_receipt_document_number AS document_number,
    toUInt32(line_no) AS line_no, transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    line.name AS name, line.quantity AS quantity, line.price AS price, line.discount AS discount,
    line.markup AS markup, line.sum AS sum, arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes, line.ai_label AS ai_label,
    if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source, line.storno AS storno, line.section_code AS section_code,
    line.ntin AS ntin, line.physical_label AS physical_label, line.product_id AS product_id, line.unit AS unit
FROM tracegate.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_no;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_code_events TO tracegate.code_events AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at, verdict.cis AS cis,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind, verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin, verdict.`group` AS product_group,
    envelope_event_receipt_document_number AS document_number, verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines),
       envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM tracegate.journal_receipts
ARRAY JOIN code_verdicts AS verdict;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies TO tracegate.anomalies AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time, finding.kind AS kind, fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at, true AS accepted,
    finding.line AS line, finding.cis AS cis, finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin, finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;

CREATE TABLE IF NOT EXISTS tracegate.device_revocations
(
    device_id String,
    seller_tin String,
    key_id String,
    from_seq UInt64,
    revoked_ms Int64,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree()
ORDER BY (device_id, revoked_ms)
SETTINGS non_replicated_deduplication_window = 10000;

ALTER TABLE tracegate.device_revocations MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipts;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipt_lines;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_code_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_anomalies;

DROP TABLE IF EXISTS tracegate.journal_receipts;

CREATE TABLE IF NOT EXISTS tracegate.journal_receipts
(
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64, discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String), unit String, code_check_id String, ai_label String, storno Bool, section_code String, ntin String, physical_label String, product_id String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    envelope_signature String,
    envelope_key_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    seller_tin String,
    store_id String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String, other_store_id String, facts String)),
    gateway_id String,
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String, gtin String, `group` String)),
    authentication String,
    stored_event String,
    protection String,
    stored_evidence String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_events TO tracegate.events AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    'receipt' AS kind,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_hash,
    envelope_prev_hash AS prev_hash,
    envelope_signature AS signature,
    envelope_key_id AS key_id,
    stored_event AS event,
    fiscal_sign,
    gateway_id,
    protection,
    if(authentication = '', 'device_signature', authentication) AS authentication,
    stored_evidence AS evidence
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipts TO tracegate.receipts AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash,
    arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card,
    arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit,
    arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare,
    arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> if(l.storno, -1, 1) * arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)
       - arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_discount_taxes) + arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_markup_taxes)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id,
    envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign,
    envelope_event_receipt_cashier AS cashier,
    fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings,
    envelope_event_receipt_discount_sum AS discount,
    envelope_event_receipt_markup_sum AS markup,
    envelope_event_receipt_offline AS offline,
    envelope_event_receipt_offline_number AS offline_number,
    envelope_event_receipt_parent_register_number AS parent_register_number
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipt_lines TO tracegate.receipt_lines AS
SELECT seller_tin,
    toDate(event_time) AS day,
    line.gtin AS gtin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    toUInt32(line_index) AS line_no,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    line.name AS name,
    line.quantity AS quantity,
    line.price AS price,
    line.discount AS discount,
    line.markup AS markup,
    line.sum AS sum,
    arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes,
    line.ai_label AS ai_label,
    if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source,
    line.storno AS storno,
    line.section_code AS section_code,
    line.ntin AS ntin,
    line.physical_label AS physical_label,
    line.product_id AS product_id,
    line.unit AS unit
FROM tracegate.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_index;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_code_events TO tracegate.code_events AS
SELECT verdict.cis AS cis,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind,
    verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin,
    verdict.`group` AS product_group,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_document_number AS document_number,
    verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines), envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM tracegate.journal_receipts
ARRAY JOIN code_verdicts AS verdict;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies TO tracegate.anomalies AS
SELECT finding.kind AS kind,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    true AS accepted,
    finding.line AS line,
    finding.cis AS cis,
    finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin,
    finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;

ALTER TABLE tracegate.events ADD COLUMN IF NOT EXISTS event_sha256 String DEFAULT '';

DROP VIEW IF EXISTS tracegate.journal_receipts_to_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipts;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_receipt_lines;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_code_events;

DROP VIEW IF EXISTS tracegate.journal_receipts_to_anomalies;

DROP TABLE IF EXISTS tracegate.journal_receipts;

CREATE TABLE IF NOT EXISTS tracegate.journal_receipts
(
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64, discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String), unit String, code_check_id String, ai_label String, storno Bool, section_code String, ntin String, physical_label String, product_id String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    envelope_signature String,
    envelope_key_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    seller_tin String,
    store_id String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String, other_store_id String, facts String)),
    gateway_id String,
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String, gtin String, `group` String)),
    authentication String,
    stored_event String,
    protection String,
    stored_evidence String,
    stored_event_sha256 String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_events TO tracegate.events AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    'receipt' AS kind,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_hash,
    envelope_prev_hash AS prev_hash,
    envelope_signature AS signature,
    envelope_key_id AS key_id,
    stored_event AS event,
    fiscal_sign,
    gateway_id,
    protection,
    if(authentication = '', 'device_signature', authentication) AS authentication,
    stored_evidence AS evidence,
    if(protection = '', SHA256(stored_event), stored_event_sha256) AS event_sha256
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipts TO tracegate.receipts AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash,
    arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card,
    arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit,
    arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare,
    arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> if(l.storno, -1, 1) * arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)
       - arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_discount_taxes) + arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_markup_taxes)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id,
    envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign,
    envelope_event_receipt_cashier AS cashier,
    fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings,
    envelope_event_receipt_discount_sum AS discount,
    envelope_event_receipt_markup_sum AS markup,
    envelope_event_receipt_offline AS offline,
    envelope_event_receipt_offline_number AS offline_number,
    envelope_event_receipt_parent_register_number AS parent_register_number
FROM tracegate.journal_receipts;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_receipt_lines TO tracegate.receipt_lines AS
SELECT seller_tin,
    toDate(event_time) AS day,
    line.gtin AS gtin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    toUInt32(line_index) AS line_no,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    line.name AS name,
    line.quantity AS quantity,
    line.price AS price,
    line.discount AS discount,
    line.markup AS markup,
    line.sum AS sum,
    arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes,
    line.ai_label AS ai_label,
    if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source,
    line.storno AS storno,
    line.section_code AS section_code,
    line.ntin AS ntin,
    line.physical_label AS physical_label,
    line.product_id AS product_id,
    line.unit AS unit
FROM tracegate.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_index;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_code_events TO tracegate.code_events AS
SELECT verdict.cis AS cis,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind,
    verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin,
    verdict.`group` AS product_group,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_document_number AS document_number,
    verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines), envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM tracegate.journal_receipts
ARRAY JOIN code_verdicts AS verdict;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracegate.journal_receipts_to_anomalies TO tracegate.anomalies AS
SELECT finding.kind AS kind,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    true AS accepted,
    finding.line AS line,
    finding.cis AS cis,
    finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin,
    finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM tracegate.journal_receipts
ARRAY JOIN findings AS finding;
