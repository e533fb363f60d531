#!/usr/bin/env bash
# Index bytes and rows per tenant, blob, chunk and invoice on PostgreSQL,
# measured on a generated population (deploy/capacity.md, "Index size").
#
#   benches/index_footprint.sh [BLOBS] [TENANTS] [INVOICES]
#   (defaults 2000000 100000 1000000; PGHOST/PGPORT/PGUSER/PGDATABASE as
#   for psql, default 127.0.0.1:5432, user postgres, database test)
#
# The tables are the real ones: a scratch schema gets the migrations in
# crates/index/migrations applied as the broker applies them. Rows are
# generated with SQL (generate_series), column for column as
# crates/index/src/postgres writes them on commit_blob: 32-byte ids, the
# canonical manifest (24 + 36 bytes per chunk), a 73-byte wrapped chunk key
# (managed mode), k+m = 2+1 shards on three of twelve providers, one
# provider_shards row per shard. The chunk count per blob follows a fixed
# mix (85 % one chunk, 14 % 2..15 chunks, 1 % 64 chunks at the default
# 4 MiB chunk). Indexes exist before the rows arrive and the ids are
# random, so B-trees fill as they do under real commits (page splits), not
# as after a sorted bulk load. The schema is dropped at the end.
set -euo pipefail

BLOBS=${1:-2000000}
TENANTS=${2:-100000}
INVOICES=${3:-1000000}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-test}
SCHEMA="sg_footprint_$$"
HERE=$(cd "$(dirname "$0")" && pwd)
MIGRATIONS="$HERE/../crates/index/migrations"

psql_s() { PGOPTIONS="-c search_path=$SCHEMA" psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql -X -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/')"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$SCHEMA\""
for f in "$MIGRATIONS"/*.sql; do psql_s -f "$f"; done

started=$(date +%s)
psql_s -v blobs="$BLOBS" -v tenants="$TENANTS" -v invoices="$INVOICES" <<'SQL'
\timing on
\echo tenants, plan, blobs, chunks, provider_shards, used_bytes, invoices
-- Tenant ids as an operator might choose them (12 chars), 100 GB quota.
INSERT INTO tenants (id, name, api_key_hash, quota_bytes, used_bytes, created_at_unix_ms)
SELECT 'acct-' || lpad(i::text, 7, '0'), 'Account ' || i, sha256(('key' || i)::bytea),
       100000000000, 0, 1764900000000 + i
FROM generate_series(1, :tenants) AS i;

-- One row per blob; n = its chunk count from the mix. Owner random.
CREATE TEMP TABLE plan AS
SELECT i, CASE WHEN i % 100 = 0 THEN 64
               WHEN i % 100 < 15 THEN 2 + (i % 14)
               ELSE 1 END AS n,
       1 + (hashint4(i) & 2147483647) % :tenants AS t
FROM generate_series(1, :blobs) AS i;

-- blobs, as blobs::write binds them (metadata empty, private, free).
INSERT INTO blobs (owner, blob_id, name, content_type, size, content_hash, key_mode,
                   visibility, flat_msat, per_mib_msat, metadata_keys, metadata_values,
                   manifest, created_at_unix_ms)
SELECT 'acct-' || lpad(p.t::text, 7, '0'),
       sha256(('blob' || p.i)::bytea),
       'photos/2026/IMG_' || lpad(p.i::text, 8, '0') || '.jpg',
       CASE WHEN p.n = 1 THEN 'image/jpeg' ELSE 'video/mp4' END,
       p.n::numeric * 4194304 - 1000,
       sha256(('content' || p.i)::bytea),
       'managed', 'private', 0, 0, '{}', '{}',
       -- Canonical manifest: 24-byte header, then chunk id ‖ u32 length.
       '\x53474d4601000201'::bytea || int4send(4194304) || int8send(p.n * 4194304 - 1000)
         || int4send(p.n)
         || (SELECT string_agg(sha256(('chunk' || p.i || '/' || j)::bytea)
                               || int4send(CASE WHEN j = p.n THEN 4194304 - 1000 ELSE 4194304 END),
                               ''::bytea ORDER BY j)
             FROM generate_series(1, p.n) AS j),
       1764900000000 + p.i
FROM plan p;

-- chunks, as chunks::store writes them on a first commit (refcount 1).
INSERT INTO chunks (chunk_id, k, m, sealed_len, shard_indexes, shard_providers, wrapped_key,
                    refcount, condemned_epoch)
SELECT sha256(('chunk' || p.i || '/' || j)::bytea), 2, 1,
       CASE WHEN j = p.n THEN 4194304 - 1000 + 16 ELSE 4194304 + 16 END,
       '{0,1,2}'::smallint[],
       ARRAY['provider-' || lpad((((p.i + j) % 12) + 1)::text, 2, '0'),
             'provider-' || lpad((((p.i + j + 4) % 12) + 1)::text, 2, '0'),
             'provider-' || lpad((((p.i + j + 8) % 12) + 1)::text, 2, '0')],
       -- WrappedChunkKey: version ‖ nonce ‖ sealed (key ‖ nonce) ‖ tag = 73 bytes.
       '\x01'::bytea || substr(sha256(('w' || p.i || '/' || j)::bytea)
                               || sha256(('x' || p.i || '/' || j)::bytea)
                               || sha256(('y' || p.i || '/' || j)::bytea), 1, 72),
       1, NULL
FROM plan p, generate_series(1, p.n) AS j;

-- provider_shards: one row per (provider, chunk), as chunks::store adds
-- them, in commit order (the three providers of a chunk are distinct).
INSERT INTO provider_shards (provider, chunk_id)
SELECT pr, c.chunk_id FROM chunks c, unnest(c.shard_providers) AS pr;

UPDATE tenants t SET used_bytes = s.used
FROM (SELECT owner, sum(size) AS used FROM blobs GROUP BY owner) s WHERE s.owner = t.id;

-- invoices, as payments::insert writes a single-use paid Get's invoice.
INSERT INTO invoices (payment_hash, blob_id, owner, range_offset, range_length, amount_msat,
                      uses, used, hold, token_id, payment_request, created_at_unix_ms,
                      expires_at_unix_ms, credential_expires_at_unix_ms,
                      hold_accepted_at_unix_ms, progress)
SELECT sha256(('ph' || i)::bytea), sha256(('blob' || (1 + i % :blobs))::bytea),
       'acct-' || lpad((1 + i % :tenants)::text, 7, '0'), 0, 4194304, 4000, 1, 1, false,
       substr(sha256(('tok' || i)::bytea), 1, 16),
       -- A BOLT 11 string of about 270 characters (mainnet, no route hints).
       'lnbc40n1p' || repeat(encode(sha256(('pr' || i)::bytea), 'hex'), 4) || 'qq',
       1764900000000 + i, 1764900600000 + i, 1764903600000 + i, NULL, 'settled'
FROM generate_series(1, :invoices) AS i;
\timing off
VACUUM ANALYZE;
SQL
echo "# generated in $(( $(date +%s) - started )) s"

psql_s -A -t -F ' | ' <<'SQL'
SELECT 'table | rows | heap+toast bytes | index bytes | total bytes | total per row';
SELECT c.relname, c.reltuples::bigint,
       pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
       round(pg_total_relation_size(c.oid)::numeric / greatest(c.reltuples, 1)::numeric, 1)
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.reltuples > 0
ORDER BY pg_total_relation_size(c.oid) DESC;
SELECT 'index | bytes | per row of its table';
SELECT i.indexrelid::regclass, pg_relation_size(i.indexrelid),
       round(pg_relation_size(i.indexrelid)::numeric / greatest(c.reltuples, 1)::numeric, 1)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = current_schema()::regnamespace AND c.reltuples > 0
ORDER BY 2 DESC;
SELECT 'per blob / per chunk (all tables)';
WITH n AS (SELECT (SELECT count(*) FROM blobs) AS blobs, (SELECT count(*) FROM chunks) AS chunks,
                  (SELECT count(*) FROM provider_shards) AS shards),
     sz AS (SELECT pg_total_relation_size('blobs') AS b, pg_total_relation_size('chunks') AS c,
                   pg_total_relation_size('provider_shards') AS p,
                   pg_total_relation_size('tenants') AS t)
SELECT 'blobs=' || blobs || ' chunks=' || chunks || ' shard rows=' || shards
       || ' chunks/blob=' || round(chunks::numeric / blobs, 2)
       || ' | blob row B/blob=' || round(b::numeric / blobs, 1)
       || ' | chunk+provider_shards B/chunk=' || round((c + p)::numeric / chunks, 1)
       || ' | avg manifest B=' || (SELECT round(avg(octet_length(manifest)), 1) FROM blobs)
       || ' | tenant B/tenant=' || round(t::numeric / (SELECT count(*) FROM tenants), 1)
FROM n, sz;
SELECT 'one-chunk blob row (heap, avg pg_column_size) B=' || round(avg(pg_column_size(b.*)), 1)
FROM blobs b WHERE octet_length(manifest) = 60;
SQL
