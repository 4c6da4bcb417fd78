-- v1 -> v2: double puppets
CREATE TABLE double_puppet (
	mxid           TEXT   PRIMARY KEY,
	-- '' with source 'secret' means appservice masquerading with the
	-- configured as_token of the user's homeserver, which is not copied here.
	access_token   TEXT   NOT NULL,
	homeserver_url TEXT   NOT NULL,
	source         TEXT   NOT NULL CHECK (source IN ('secret', 'user')),
	created_at     BIGINT NOT NULL
);
