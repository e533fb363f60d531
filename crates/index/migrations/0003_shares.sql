-- Schema version 3: share links (docs/sharing.md, "The share record").
-- Same conventions as 0001 (u64 = numeric(20,0), ids = bytea, u32 counters
-- = bigint within u32).
--
-- A share never outlives its blob: the foreign key deletes a blob's shares
-- in the statement (and so the transaction) that deletes the blob, and a
-- share cannot be created for a blob that is not there.

CREATE TABLE shares (
    share_id            bytea PRIMARY KEY CHECK (octet_length(share_id) = 16),
    owner               text COLLATE "C" NOT NULL,
    blob_id             bytea NOT NULL,
    token_hash          bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    -- End-to-end shares only (MAX_SHARE_WRAPPED_KEY_LEN, MAX_SHARE_SEALED_NAME_LEN).
    wrapped_key         bytea CHECK (octet_length(wrapped_key) <= 256),
    sealed_name         bytea CHECK (octet_length(sealed_name) <= 2048),
    price_msat          numeric(20,0),
    expires_at_unix_ms  numeric(20,0),
    max_downloads       bigint NOT NULL CHECK (max_downloads BETWEEN 0 AND 4294967295),
    downloads           bigint NOT NULL CHECK (downloads BETWEEN 0 AND 4294967295),
    revoked_at_unix_ms  numeric(20,0),
    created_at_unix_ms  numeric(20,0) NOT NULL,
    FOREIGN KEY (owner, blob_id) REFERENCES blobs (owner, blob_id) ON DELETE CASCADE
);
-- list_shares: an owner's shares, or one blob's, in share id order (the
-- second also serves the foreign key's cascade).
CREATE INDEX shares_by_owner ON shares (owner, share_id);
CREATE INDEX shares_by_blob ON shares (owner, blob_id, share_id);
