-- v0 -> v1: ghosts and the profile last pushed for each
CREATE TABLE ghost (
	network     TEXT    NOT NULL,
	remote_id   TEXT    NOT NULL,
	mxid        TEXT    NOT NULL UNIQUE,
	-- What was last sent to the homeserver. *_set is false until the push
	-- succeeded; avatar_mxc is kept from an upload whose set failed, so a
	-- retry does not upload again.
	displayname TEXT    NOT NULL DEFAULT '',
	avatar_id   TEXT    NOT NULL DEFAULT '',
	avatar_mxc  TEXT    NOT NULL DEFAULT '',
	name_set    BOOLEAN NOT NULL DEFAULT false,
	avatar_set  BOOLEAN NOT NULL DEFAULT false,
	PRIMARY KEY (network, remote_id)
);
