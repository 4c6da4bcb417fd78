-- v1 -> v2: Channels each puppet is in
-- The channels of the portals a Matrix user is in, so their puppet rejoins
-- them after a bridge restart without waiting for Matrix to say so again.
CREATE TABLE irc_puppet_channel (
	network TEXT NOT NULL,
	mxid    TEXT NOT NULL,
	channel TEXT NOT NULL,
	PRIMARY KEY (network, mxid, channel)
);
