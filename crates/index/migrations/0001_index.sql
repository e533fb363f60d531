-- Shardgate index on PostgreSQL, schema version 1: tenants, blobs, chunks,
-- GC state, providers. Runs inside the schema chosen at connect (the
-- connection's search_path), in the migration transaction.
--
-- Conventions: u64 values are numeric(20,0) (bigint stops at 2^63-1; quotas
-- use u64::MAX); ids are 32-byte bytea; names sort by bytes (COLLATE "C"),
-- as in the redb index.

CREATE TABLE tenants (
    id                  text COLLATE "C" PRIMARY KEY,
    name                text NOT NULL,
    api_key_hash        bytea NOT NULL UNIQUE CHECK (octet_length(api_key_hash) = 32),
    quota_bytes         numeric(20,0) NOT NULL CHECK (quota_bytes >= 0),
    used_bytes          numeric(20,0) NOT NULL CHECK (used_bytes >= 0),
    created_at_unix_ms  numeric(20,0) NOT NULL
);

CREATE TABLE blobs (
    owner               text COLLATE "C" NOT NULL REFERENCES tenants (id),
    blob_id             bytea NOT NULL CHECK (octet_length(blob_id) = 32),
    name                text COLLATE "C" NOT NULL,
    content_type        text NOT NULL,
    size                numeric(20,0) NOT NULL,
    content_hash        bytea NOT NULL,
    key_mode            text NOT NULL CHECK (key_mode IN ('managed', 'end_to_end')),
    visibility          text NOT NULL CHECK (visibility IN ('private', 'public')),
    flat_msat           numeric(20,0) NOT NULL,
    per_mib_msat        numeric(20,0) NOT NULL,
    -- BTreeMap<String, String> as two parallel arrays, in key order.
    metadata_keys       text[] NOT NULL,
    metadata_values     text[] NOT NULL,
    manifest            bytea NOT NULL,
    created_at_unix_ms  numeric(20,0) NOT NULL,
    PRIMARY KEY (owner, blob_id)
);
-- Listing order (owner, name, blob id) and the public look-up by id.
CREATE INDEX blobs_by_name ON blobs (owner, name, blob_id);
CREATE INDEX public_blobs ON blobs (blob_id, owner) WHERE visibility = 'public';

CREATE TABLE chunks (
    chunk_id            bytea PRIMARY KEY CHECK (octet_length(chunk_id) = 32),
    k                   smallint NOT NULL,
    m                   smallint NOT NULL,
    sealed_len          bigint NOT NULL,
    -- ShardLocation list in its stored order, as two parallel arrays.
    shard_indexes       smallint[] NOT NULL,
    shard_providers     text[] NOT NULL,
    wrapped_key         bytea,
    refcount            numeric(20,0) NOT NULL CHECK (refcount >= 0),
    -- Epoch of the GC pass that condemned the chunk; NULL = not condemned.
    condemned_epoch     numeric(20,0)
);
-- GC candidates (refcount 0, not condemned) and pending condemnations.
CREATE INDEX chunks_zero_ref ON chunks (chunk_id) WHERE refcount = 0 AND condemned_epoch IS NULL;
CREATE INDEX chunks_condemned ON chunks (chunk_id) WHERE condemned_epoch IS NOT NULL;

-- Which chunks have a shard on a provider (drain and repair).
CREATE TABLE provider_shards (
    provider            text COLLATE "C" NOT NULL,
    chunk_id            bytea NOT NULL,
    PRIMARY KEY (provider, chunk_id)
);

-- Chunks a GC pass removed, at the pass's finish epoch (GC safety rule 4).
CREATE TABLE tombstones (
    chunk_id            bytea PRIMARY KEY,
    finish_epoch        numeric(20,0) NOT NULL,
    finished_at_unix_ms numeric(20,0) NOT NULL
);
CREATE INDEX tombstones_by_epoch ON tombstones (finish_epoch, chunk_id);

-- One row: the GC epoch and the newest pruned tombstone epoch (rule 5).
CREATE TABLE gc_meta (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch               numeric(20,0) NOT NULL,
    pruned_through      numeric(20,0) NOT NULL
);
INSERT INTO gc_meta (id, epoch, pruned_through) VALUES (true, 0, 0);

CREATE TABLE providers (
    name                text COLLATE "C" PRIMARY KEY,
    config_sealed       bytea NOT NULL,
    weight              double precision NOT NULL,
    state               text NOT NULL CHECK (state IN ('active', 'draining'))
);
