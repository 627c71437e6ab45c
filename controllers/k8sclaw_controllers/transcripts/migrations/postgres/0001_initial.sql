-- v1: the tree namespace -> instance -> session -> run -> events.
-- Times are milliseconds since the epoch, set by the recorder (payload times are only shown).
CREATE TABLE sessions (
    namespace   TEXT    NOT NULL,
    instance    TEXT    NOT NULL,
    session_key TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    PRIMARY KEY (namespace, instance, session_key)
);
CREATE TABLE runs (
    namespace   TEXT    NOT NULL,
    run         TEXT    NOT NULL,
    uid         TEXT    NOT NULL DEFAULT '',
    instance    TEXT    NOT NULL,
    session_key TEXT    NOT NULL,
    task        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    event_count BIGINT  NOT NULL DEFAULT 0,
    last_seq    BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, run)
);
CREATE INDEX runs_by_session ON runs (namespace, session_key);
CREATE INDEX runs_by_instance ON runs (namespace, instance);
-- seq is the JetStream stream sequence: the bus event id, stored exactly once.
CREATE TABLE events (
    seq         BIGINT  NOT NULL PRIMARY KEY,
    namespace   TEXT    NOT NULL,
    run         TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    time_ms     BIGINT  NOT NULL,
    data        TEXT    NOT NULL,
    FOREIGN KEY (namespace, run) REFERENCES runs (namespace, run)
);
CREATE INDEX events_by_run ON events (namespace, run, seq);
