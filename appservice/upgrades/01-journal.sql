-- v0 -> v1: Transaction journal
-- Every transaction ID the homeserver sent, so a retried one is not handled
-- twice; seq orders transactions for replay and never goes backwards.
CREATE TABLE appservice_txn (
-- only: postgres
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
-- only: sqlite
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	txn_id      TEXT   NOT NULL UNIQUE,
	received_at BIGINT NOT NULL
);
CREATE INDEX appservice_txn_received_at_idx ON appservice_txn (received_at);

-- Events accepted but not yet handled, in (txn_seq, idx) order. A row is
-- deleted once its event was handled or finally failed.
CREATE TABLE appservice_journal (
	txn_seq    BIGINT  NOT NULL,
	idx        INTEGER NOT NULL,
	room_id    TEXT    NOT NULL,
	event_id   TEXT    NOT NULL,
	event_type TEXT    NOT NULL,
	event      TEXT    NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (txn_seq, idx)
);
