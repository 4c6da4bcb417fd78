-- v0 -> v1: Users, logins, portals, the message map and the remote journal
CREATE TABLE bridge_user (
	mxid            TEXT PRIMARY KEY,
	management_room TEXT NOT NULL DEFAULT ''
);

CREATE TABLE login (
	user_mxid   TEXT NOT NULL,
	network     TEXT NOT NULL,
	login_id    TEXT NOT NULL,
	remote_id   TEXT NOT NULL,
	remote_name TEXT NOT NULL,
	metadata    TEXT NOT NULL,
	PRIMARY KEY (user_mxid, network, login_id)
);

CREATE TABLE portal (
	network    TEXT NOT NULL,
	chat_id    TEXT NOT NULL,
	receiver   TEXT NOT NULL,
	mxid       TEXT UNIQUE,
	name       TEXT NOT NULL DEFAULT '',
	topic      TEXT NOT NULL DEFAULT '',
	avatar_id  TEXT NOT NULL DEFAULT '',
	is_dm      BOOLEAN NOT NULL DEFAULT false,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (network, chat_id, receiver)
);

-- One row per bridged Matrix event: a message part or a reaction. remote_id
-- is unique per portal so a remote echo or a replayed remote event is seen.
CREATE TABLE message (
	network     TEXT NOT NULL,
	chat_id     TEXT NOT NULL,
	receiver    TEXT NOT NULL,
	remote_id   TEXT NOT NULL,
	room_id     TEXT NOT NULL,
	event_id    TEXT NOT NULL UNIQUE,
	sender_mxid TEXT NOT NULL,
	remote_sender TEXT NOT NULL DEFAULT '',
	kind        TEXT NOT NULL,
	target_id   TEXT NOT NULL DEFAULT '',
	ts          BIGINT NOT NULL,
	PRIMARY KEY (network, chat_id, receiver, remote_id),
	FOREIGN KEY (network, chat_id, receiver) REFERENCES portal (network, chat_id, receiver) ON DELETE CASCADE
);

-- Invites the bridge sent to Matrix users and that they have not answered,
-- for "reject-invites".
CREATE TABLE pending_invite (
	room_id   TEXT NOT NULL,
	user_mxid TEXT NOT NULL,
	inviter   TEXT NOT NULL,
	ts        BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_mxid)
);

-- Remote events accepted from an adapter and not yet handled.
CREATE TABLE remote_journal (
-- only: postgres
	seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
-- only: sqlite
	seq   INTEGER PRIMARY KEY AUTOINCREMENT,
	portal TEXT NOT NULL,
	event  TEXT NOT NULL
);
