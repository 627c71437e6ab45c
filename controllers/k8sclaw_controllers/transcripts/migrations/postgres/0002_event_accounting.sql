-- v2: when each event was recorded (retention is judged on the recorder's clock, never on
-- a payload timestamp) and its stored size in bytes; rows of v1 are backfilled.
ALTER TABLE events ADD COLUMN recorded_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE events SET recorded_ms = time_ms, size_bytes = octet_length(data);
CREATE INDEX events_by_recorded ON events (recorded_ms);
