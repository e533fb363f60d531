-- Schema version 4: money out (payouts) and prepaid credit.
-- Ledger entries get a kind (0 download … 7 payout failed, see
-- codec/payments.rs entry_kind_tag) and a blob only for downloads; three
-- account kinds join: 4 payouts in flight, 5 credit (id = payment hash hex),
-- 6 credit held by running downloads.

ALTER TABLE ledger_entries ALTER COLUMN blob_id DROP NOT NULL;
ALTER TABLE ledger_entries ADD COLUMN kind smallint NOT NULL DEFAULT 0
    CHECK (kind BETWEEN 0 AND 7);

ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_kind_check;
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_account_kind_check
    CHECK (account_kind BETWEEN 0 AND 6);
ALTER TABLE ledger_balances DROP CONSTRAINT ledger_balances_account_kind_check;
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_account_kind_check
    CHECK (account_kind BETWEEN 0 AND 6);

-- One row per paid invoice (payment hash); a failed payout may be retried
-- with the same invoice, which bumps `attempt` on the same row.
CREATE TABLE payouts (
    payment_hash        bytea PRIMARY KEY CHECK (octet_length(payment_hash) = 32),
    account_kind        smallint NOT NULL CHECK (account_kind BETWEEN 0 AND 2),
    account_id          text COLLATE "C" NOT NULL,
    amount_msat         numeric(20,0) NOT NULL CHECK (amount_msat >= 1),
    fee_reserve_msat    numeric(20,0) NOT NULL,
    payment_request     text NOT NULL,
    attempt             bigint NOT NULL CHECK (attempt >= 1),
    origin              text NOT NULL CHECK (origin IN ('withdrawal', 'lightning_address')),
    started_at_unix_ms  numeric(20,0) NOT NULL,
    finished_at_unix_ms numeric(20,0),
    state               text NOT NULL CHECK (state IN ('in_flight', 'succeeded', 'failed')),
    fee_msat            numeric(20,0),
    preimage            bytea,
    failure_reason      text
);
-- The reconciler's work list.
CREATE INDEX payouts_in_flight ON payouts (payment_hash) WHERE state = 'in_flight';

CREATE TABLE credits (
    payment_hash        bytea PRIMARY KEY CHECK (octet_length(payment_hash) = 32),
    token_id            bytea NOT NULL,
    amount_msat         numeric(20,0) NOT NULL CHECK (amount_msat >= 1),
    payment_request     text NOT NULL,
    created_at_unix_ms  numeric(20,0) NOT NULL,
    expires_at_unix_ms  numeric(20,0) NOT NULL,
    credential_expires_at_unix_ms numeric(20,0) NOT NULL,
    funded_at_unix_ms   numeric(20,0)
);

-- Standing orders: pay an account's balance to a Lightning Address once
-- it reaches the threshold, with the schedule's backoff state.
CREATE TABLE payout_addresses (
    account_kind        smallint NOT NULL CHECK (account_kind BETWEEN 0 AND 2),
    account_id          text COLLATE "C" NOT NULL,
    address             text NOT NULL,
    threshold_msat      numeric(20,0) NOT NULL CHECK (threshold_msat >= 1),
    failures            bigint NOT NULL CHECK (failures >= 0),
    next_attempt_at_unix_ms numeric(20,0) NOT NULL,
    last_error          text,
    updated_at_unix_ms  numeric(20,0) NOT NULL,
    PRIMARY KEY (account_kind, account_id)
);
