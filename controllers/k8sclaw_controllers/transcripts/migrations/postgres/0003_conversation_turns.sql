-- v3: the router reads a session's turns (each run's task and its result or error) on
-- every chat message; these indexes let it read the newest runs of a session in order
-- and only their result/error rows, instead of every event of the session.
CREATE INDEX runs_by_session_created ON runs (namespace, session_key, created_ms);
CREATE INDEX events_by_run_kind ON events (namespace, run, kind, seq);
