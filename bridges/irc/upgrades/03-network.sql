-- v2 -> v3: What is known of each network between runs
-- The CASEMAPPING its server sent last, so names are folded the server's
-- way from the start, before any connection has registered.
CREATE TABLE irc_network (
	network     TEXT PRIMARY KEY,
	casemapping TEXT NOT NULL
);
