-- Schema version 5: a version per chunk record for repair's
-- compare-and-set. Comparing shard lists could not tell that another
-- replica restored a shard in place (the list stays the same), so two
-- replicas could both rebuild one lost shard; every update_chunk_shards
-- now moves the version on, and a plan lands only on the version it read.
ALTER TABLE chunks ADD COLUMN shards_version bigint NOT NULL DEFAULT 0
    CHECK (shards_version >= 0);
