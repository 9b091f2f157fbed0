CREATE DATABASE IF NOT EXISTS tracegate ON CLUSTER tracegate;

CREATE TABLE IF NOT EXISTS tracegate.schema_migrations ON CLUSTER tracegate
(
    id String,
    description String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', applied_at)
ORDER BY (id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.events_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, seq)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.events ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'events_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.receipts_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, shift_number, document_number)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.receipts ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'receipts_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.receipt_lines_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (seller_tin, day, gtin)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.receipt_lines ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'receipt_lines_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.shifts_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(closed_at)
ORDER BY (seller_tin, device_id, shift_number)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.shifts ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'shifts_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.rejections_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (device_id, received_at)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.rejections ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'rejections_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.anomalies_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(detected_at)
ORDER BY (kind, detected_at)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.anomalies ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'anomalies_local', cityHash64(device_id));

CREATE TABLE IF NOT EXISTS tracegate.devices ON CLUSTER tracegate
(
    device_id String,
    seller_tin String,
    store_id String,
    public_key_pem String,
    key_id String,
    status LowCardinality(String),
    updated_ms Int64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', updated_ms)
ORDER BY (device_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.code_registry_local ON CLUSTER tracegate
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)
ORDER BY (cis)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.code_registry ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'code_registry_local', cityHash64(cis));

CREATE TABLE IF NOT EXISTS tracegate.code_events_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (cis, event_time)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.code_events ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'code_events_local', cityHash64(cis));

CREATE VIEW IF NOT EXISTS tracegate.code_status ON CLUSTER tracegate AS
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

CREATE TABLE IF NOT EXISTS tracegate.access_tokens ON CLUSTER tracegate
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', updated_ms)
ORDER BY (token_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.audit_log ON CLUSTER tracegate
(
    at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    principal String,
    action LowCardinality(String),
    target String,
    detail String,
    remote String,
    gateway_id LowCardinality(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (at, action)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.receipt_buyers_local ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (seller_tin, device_id, seq)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.receipt_buyers ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'receipt_buyers_local', cityHash64(device_id));

ALTER TABLE tracegate.receipt_buyers_local ON CLUSTER tracegate MODIFY TTL toDateTime(consent_expires_at) DELETE;

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ai_label String;

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ai_label String;

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ai_source LowCardinality(String);

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ai_source LowCardinality(String);

ALTER TABLE tracegate.events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS protection LowCardinality(String);

ALTER TABLE tracegate.events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS protection LowCardinality(String);

CREATE VIEW IF NOT EXISTS tracegate.receipt_buyers_live ON CLUSTER tracegate AS SELECT * FROM tracegate.receipt_buyers WHERE consent_expires_at > now64(3);

CREATE VIEW IF NOT EXISTS tracegate.shift_reconciliation ON CLUSTER tracegate AS
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

CREATE VIEW IF NOT EXISTS tracegate.anomaly_queue ON CLUSTER tracegate AS
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

ALTER TABLE tracegate.code_events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS gateway_id LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.code_events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS gateway_id LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.code_events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT if(gateway_id = '', received_at, now64(3)) CODEC(Delta, ZSTD);

ALTER TABLE tracegate.code_events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT if(gateway_id = '', received_at, now64(3)) CODEC(Delta, ZSTD);

ALTER TABLE tracegate.code_events_local ON CLUSTER tracegate ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

ALTER TABLE tracegate.code_events_local ON CLUSTER tracegate MATERIALIZE COLUMN inserted_at;

ALTER TABLE tracegate.code_events_local ON CLUSTER tracegate MATERIALIZE INDEX inserted_at_minmax;

CREATE TABLE IF NOT EXISTS tracegate.chain_heads ON CLUSTER tracegate
(
    device_id String,
    seq UInt64,
    envelope_hash String,
    fiscal_sign String,
    next_seq UInt64,
    gateway_id String,
    updated_ms Int64
)
ENGINE = KeeperMap('/tracegate/chain_heads')
PRIMARY KEY device_id;

CREATE TABLE IF NOT EXISTS tracegate.device_keys ON CLUSTER tracegate
(
    device_id String,
    key_id String,
    public_key_pem String,
    revoked Bool,
    at_ms Int64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (device_id, key_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

INSERT INTO tracegate.device_keys (device_id, key_id, public_key_pem, revoked, at_ms) SELECT device_id, key_id, public_key_pem, status = 'revoked', updated_ms FROM tracegate.devices;

ALTER TABLE tracegate.devices ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS protocol LowCardinality(String) DEFAULT 'tracegate';

ALTER TABLE tracegate.devices ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ofd_id UInt32 DEFAULT 0;

ALTER TABLE tracegate.devices ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS kgd_number String DEFAULT '';

ALTER TABLE tracegate.devices ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ofd_token_mac String DEFAULT '';

ALTER TABLE tracegate.devices ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ofd_key_epoch UInt32 DEFAULT 0;

ALTER TABLE tracegate.events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS authentication LowCardinality(String) DEFAULT 'device_signature';

ALTER TABLE tracegate.events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS evidence String DEFAULT '' CODEC(ZSTD);

ALTER TABLE tracegate.events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS authentication LowCardinality(String) DEFAULT 'device_signature';

ALTER TABLE tracegate.events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS evidence String DEFAULT '' CODEC(ZSTD);

ALTER TABLE tracegate.receipts_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS discount Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS markup Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS offline Bool DEFAULT false;

ALTER TABLE tracegate.receipts_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS offline_number UInt32 DEFAULT 0;

ALTER TABLE tracegate.receipts_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS parent_register_number String DEFAULT '';

ALTER TABLE tracegate.receipts ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS discount Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS markup Int64 DEFAULT 0;

ALTER TABLE tracegate.receipts ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS offline Bool DEFAULT false;

ALTER TABLE tracegate.receipts ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS offline_number UInt32 DEFAULT 0;

ALTER TABLE tracegate.receipts ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS parent_register_number String DEFAULT '';

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS storno Bool DEFAULT false;

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS section_code LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ntin String DEFAULT '';

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS physical_label String DEFAULT '';

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS product_id String DEFAULT '';

ALTER TABLE tracegate.receipt_lines_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS unit LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS storno Bool DEFAULT false;

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS section_code LowCardinality(String) DEFAULT '';

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS ntin String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS physical_label String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS product_id String DEFAULT '';

ALTER TABLE tracegate.receipt_lines ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS unit LowCardinality(String) DEFAULT '';

CREATE TABLE IF NOT EXISTS tracegate.ofd_exchanges_local ON CLUSTER tracegate
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', number)
ORDER BY (ofd_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.ofd_exchanges ON CLUSTER tracegate
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
ENGINE = Distributed('tracegate', 'tracegate', 'ofd_exchanges_local', cityHash64(device_id));

ALTER TABLE tracegate.anomalies_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS other_seller_tin String DEFAULT '', ADD COLUMN IF NOT EXISTS other_store_id LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS facts String DEFAULT '';

ALTER TABLE tracegate.anomalies ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS other_seller_tin String DEFAULT '', ADD COLUMN IF NOT EXISTS other_store_id LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS facts String DEFAULT '';

DROP VIEW IF EXISTS tracegate.anomaly_queue ON CLUSTER tracegate;

CREATE VIEW IF NOT EXISTS tracegate.anomaly_queue ON CLUSTER tracegate AS
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

CREATE TABLE IF NOT EXISTS tracegate.anomaly_case_actions ON CLUSTER tracegate
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (incident_id, at)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS tracegate.device_revocations ON CLUSTER tracegate
(
    device_id String,
    seller_tin String,
    key_id String,
    from_seq UInt64,
    revoked_ms Int64,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (device_id, revoked_ms)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

ALTER TABLE tracegate.events_local ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS event_sha256 String DEFAULT '';

ALTER TABLE tracegate.events ON CLUSTER tracegate ADD COLUMN IF NOT EXISTS event_sha256 String DEFAULT '';
