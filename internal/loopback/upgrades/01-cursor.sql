-- v0 -> v1: Read position in the remote event log
CREATE TABLE loopback_cursor (
	network TEXT PRIMARY KEY,
	seq     BIGINT NOT NULL
);
