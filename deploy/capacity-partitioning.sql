-- Partitioning sketch for deploy/capacity.md: the key tables of
-- crates/index/migrations/0001_index.sql, hash-partitioned (16 partitions
-- here; 64-128 in production). NOT a migration: nothing applies it. Run it
-- in a scratch schema to see which of the index code's queries stay in one
-- partition, then drop the schema:
--
--   psql -c 'CREATE SCHEMA sg_sketch'
--   PGOPTIONS='-c search_path=sg_sketch' psql -f deploy/capacity-partitioning.sql
--   psql -c 'DROP SCHEMA sg_sketch CASCADE'
CREATE TABLE tenants (
    id                  text COLLATE "C" NOT NULL,
    name                text NOT NULL,
    api_key_hash        bytea NOT NULL CHECK (octet_length(api_key_hash) = 32),
    quota_bytes         numeric(20,0) NOT NULL CHECK (quota_bytes >= 0),
    used_bytes          numeric(20,0) NOT NULL CHECK (used_bytes >= 0),
    created_at_unix_ms  numeric(20,0) NOT NULL,
    PRIMARY KEY (id)
) PARTITION BY HASH (id);
-- A unique index on a partitioned table must contain the partition key,
-- so the key-hash lookup gets its own table, partitioned by the hash.
CREATE TABLE api_keys (
    api_key_hash        bytea PRIMARY KEY CHECK (octet_length(api_key_hash) = 32),
    tenant_id           text COLLATE "C" NOT NULL
) PARTITION BY HASH (api_key_hash);
CREATE TABLE blobs (
    owner               text COLLATE "C" NOT NULL,
    blob_id             bytea NOT NULL CHECK (octet_length(blob_id) = 32),
    name                text COLLATE "C" NOT NULL,
    content_type        text NOT NULL,
    size                numeric(20,0) NOT NULL,
    content_hash        bytea NOT NULL,
    key_mode            text NOT NULL,
    visibility          text NOT NULL,
    flat_msat           numeric(20,0) NOT NULL,
    per_mib_msat        numeric(20,0) NOT NULL,
    metadata_keys       text[] NOT NULL,
    metadata_values     text[] NOT NULL,
    manifest            bytea NOT NULL,
    created_at_unix_ms  numeric(20,0) NOT NULL,
    PRIMARY KEY (owner, blob_id)
) PARTITION BY HASH (owner);
CREATE INDEX blobs_by_name ON blobs (owner, name, blob_id);
CREATE INDEX public_blobs ON blobs (blob_id, owner) WHERE visibility = 'public';
-- Chunks carry no owner: partition them by their own id.
CREATE TABLE chunks (
    chunk_id            bytea NOT NULL CHECK (octet_length(chunk_id) = 32),
    k smallint NOT NULL, m smallint NOT NULL, sealed_len bigint NOT NULL,
    shard_indexes smallint[] NOT NULL, shard_providers text[] NOT NULL,
    wrapped_key bytea, refcount numeric(20,0) NOT NULL, condemned_epoch numeric(20,0),
    PRIMARY KEY (chunk_id)
) PARTITION BY HASH (chunk_id);
CREATE INDEX chunks_zero_ref ON chunks (chunk_id) WHERE refcount = 0 AND condemned_epoch IS NULL;
CREATE TABLE provider_shards (
    provider text COLLATE "C" NOT NULL, chunk_id bytea NOT NULL,
    PRIMARY KEY (provider, chunk_id)
) PARTITION BY HASH (chunk_id);
DO $$
BEGIN
  FOR i IN 0..15 LOOP
    EXECUTE format('CREATE TABLE tenants_p%s PARTITION OF tenants FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
    EXECUTE format('CREATE TABLE api_keys_p%s PARTITION OF api_keys FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
    EXECUTE format('CREATE TABLE blobs_p%s PARTITION OF blobs FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
    EXECUTE format('CREATE TABLE chunks_p%s PARTITION OF chunks FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
    EXECUTE format('CREATE TABLE provider_shards_p%s PARTITION OF provider_shards FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
  END LOOP;
END $$;
INSERT INTO tenants SELECT 'acct-' || i, 'n', sha256(i::text::bytea), 1, 0, 0 FROM generate_series(1, 1000) i;
INSERT INTO blobs SELECT 'acct-' || (i % 1000), sha256(('b' || i)::bytea), 'f' || i, 'x', 1, '\x00', 'managed',
  CASE WHEN i % 50 = 0 THEN 'public' ELSE 'private' END, 0, 0, '{}', '{}', '\x00', 0 FROM generate_series(1, 20000) i;
INSERT INTO chunks SELECT sha256(('c' || i)::bytea), 2, 1, 1, '{0,1,2}', '{a,b,c}', NULL, i % 3, NULL FROM generate_series(1, 20000) i;
ANALYZE;
-- The code's queries, as tokio-postgres sends them (prepared per call, so
-- the first executions get custom plans with the parameter values).
PREPARE blob_get(text, bytea) AS SELECT * FROM blobs WHERE owner = $1 AND blob_id = $2;
PREPARE blob_list(text, text, text, bytea, int8) AS SELECT * FROM blobs WHERE owner = $1 AND starts_with(name, $2) AND (name, blob_id) > ($3, $4) ORDER BY name, blob_id LIMIT $5;
PREPARE blob_public(bytea) AS SELECT * FROM blobs WHERE blob_id = $1 AND visibility = 'public' ORDER BY owner LIMIT 1;
PREPARE tenant_lock(text) AS SELECT * FROM tenants WHERE id = $1 FOR NO KEY UPDATE;
PREPARE key_lookup(bytea) AS SELECT * FROM api_keys WHERE api_key_hash = $1;
PREPARE chunks_many(bytea[]) AS SELECT * FROM chunks WHERE chunk_id = ANY($1);
PREPARE gc_condemn(int8) AS SELECT chunk_id FROM chunks WHERE refcount = 0 AND condemned_epoch IS NULL ORDER BY chunk_id LIMIT $1;
PREPARE shards_on(text, bytea, int8) AS SELECT chunk_id FROM provider_shards WHERE provider = $1 AND chunk_id > $2 ORDER BY chunk_id LIMIT $3;
\echo == blob_get
EXPLAIN (COSTS OFF) EXECUTE blob_get('acct-7', sha256('b7'::bytea));
\echo == blob_list
EXPLAIN (COSTS OFF) EXECUTE blob_list('acct-7', 'f', 'f', '\x', 100);
\echo == blob_public
EXPLAIN (COSTS OFF) EXECUTE blob_public(sha256('b50'::bytea));
\echo == tenant_lock
EXPLAIN (COSTS OFF) EXECUTE tenant_lock('acct-7');
\echo == key_lookup
EXPLAIN (COSTS OFF) EXECUTE key_lookup(sha256('7'::bytea));
\echo == chunks_many one id
EXPLAIN (COSTS OFF) EXECUTE chunks_many(ARRAY[sha256('c1'::bytea)]);
\echo == chunks_many three ids
EXPLAIN (COSTS OFF) EXECUTE chunks_many(ARRAY[sha256('c1'::bytea), sha256('c2'::bytea), sha256('c3'::bytea)]);
\echo == gc_condemn
EXPLAIN (COSTS OFF) EXECUTE gc_condemn(1000);
\echo == shards_on
EXPLAIN (COSTS OFF) EXECUTE shards_on('a', '\x', 100);
