-- Node liveness: every portal node writes its heartbeat here, so that a
-- call owned by a node that stopped (killed, crashed) is seen as lost.
CREATE TABLE nodes (
	id      TEXT PRIMARY KEY,
	seen_us BIGINT NOT NULL
);
