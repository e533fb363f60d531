-- Schema version 6: shared rate slots (src/rate_slots.rs). One row per
-- rate; every broker replica on this database books its slots here, so a
-- node-wide cap holds across replicas instead of once per replica.
CREATE TABLE rate_slots (
    name text PRIMARY KEY,
    -- Microseconds since the Unix epoch on PostgreSQL's clock.
    next_free_us bigint NOT NULL
);
