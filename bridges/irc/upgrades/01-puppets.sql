-- v0 -> v1: Puppet nicks and credentials
-- One row per Matrix user who ever had an IRC connection on a network: the
-- nick they last had (so they come back as the same person after a restart),
-- whether they chose it, and the NickServ/SASL password they stored with
-- "login". The password is a secret: never logged.
CREATE TABLE irc_puppet (
	network  TEXT NOT NULL,
	mxid     TEXT NOT NULL,
	nick     TEXT NOT NULL DEFAULT '',
	chosen   BOOLEAN NOT NULL DEFAULT false,
	password TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (network, mxid)
);
