-- v0 -> v1: Stream positions, for catching up after a gap
-- The last message of each room that a login handed to the core: after a
-- reconnect or restart, chatMessages?afterId= resumes from here.
CREATE TABLE gitter_position (
	network    TEXT NOT NULL,
	login_user TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	message_id TEXT NOT NULL,
	PRIMARY KEY (network, login_user, room_id)
);
