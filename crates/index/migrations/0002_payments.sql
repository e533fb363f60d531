-- Schema version 2: the invoices the broker issued (use counters, hold
-- state) and the double-entry ledger of settled payments with running
-- balances. Same conventions as 0001 (u64 = numeric(20,0), ids = bytea).

CREATE TABLE invoices (
    payment_hash        bytea PRIMARY KEY CHECK (octet_length(payment_hash) = 32),
    blob_id             bytea NOT NULL,
    owner               text COLLATE "C" NOT NULL,
    range_offset        numeric(20,0) NOT NULL,
    range_length        numeric(20,0) NOT NULL,
    amount_msat         numeric(20,0) NOT NULL,
    uses                bigint NOT NULL CHECK (uses >= 1),
    used                bigint NOT NULL CHECK (used >= 0 AND used <= uses),
    hold                boolean NOT NULL,
    token_id            bytea NOT NULL,
    payment_request     text NOT NULL,
    created_at_unix_ms  numeric(20,0) NOT NULL,
    expires_at_unix_ms  numeric(20,0) NOT NULL,
    credential_expires_at_unix_ms numeric(20,0) NOT NULL,
    hold_accepted_at_unix_ms numeric(20,0),
    progress            text NOT NULL CHECK (progress IN ('issued', 'settled', 'canceled'))
);
-- The hold watcher's work list.
CREATE INDEX invoices_pending_holds ON invoices (payment_hash) WHERE hold AND progress = 'issued';

CREATE TABLE ledger_entries (
    entry_id            bytea PRIMARY KEY CHECK (octet_length(entry_id) = 32),
    blob_id             bytea NOT NULL,
    settled_at_unix_ms  numeric(20,0) NOT NULL
);
CREATE INDEX ledger_by_time ON ledger_entries (settled_at_unix_ms, entry_id);

-- account_kind: 0 owner, 1 provider, 2 broker, 3 lightning (the sort order).
CREATE TABLE ledger_postings (
    entry_id            bytea NOT NULL REFERENCES ledger_entries (entry_id),
    position            integer NOT NULL,
    account_kind        smallint NOT NULL CHECK (account_kind BETWEEN 0 AND 3),
    account_id          text COLLATE "C" NOT NULL,
    side                text NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_msat         numeric(20,0) NOT NULL CHECK (amount_msat >= 1),
    -- The entry's, repeated so an account's entries list in time order.
    settled_at_unix_ms  numeric(20,0) NOT NULL,
    PRIMARY KEY (entry_id, position)
);
CREATE INDEX ledger_by_account
    ON ledger_postings (account_kind, account_id, settled_at_unix_ms, entry_id);

-- Running totals, changed in the entry's own transaction. A total past
-- u64 is refused (the entry is then not written at all).
CREATE TABLE ledger_balances (
    account_kind        smallint NOT NULL CHECK (account_kind BETWEEN 0 AND 3),
    account_id          text COLLATE "C" NOT NULL,
    credited_msat       numeric(20,0) NOT NULL,
    debited_msat        numeric(20,0) NOT NULL,
    PRIMARY KEY (account_kind, account_id),
    CONSTRAINT ledger_balance_fits_u64 CHECK (
        credited_msat <= 18446744073709551615 AND debited_msat <= 18446744073709551615)
);
