-- v1 -> v2: A Matrix space per login (bridge.spaces), and the portals in it
CREATE TABLE space (
	user_mxid TEXT NOT NULL,
	network   TEXT NOT NULL,
	login_id  TEXT NOT NULL,
	room_id   TEXT NOT NULL UNIQUE,
	PRIMARY KEY (user_mxid, network, login_id)
);

-- A row once the space's m.space.child for the portal room is sent, so a
-- portal is added once, not on every join.
CREATE TABLE space_child (
	space_room TEXT NOT NULL,
	child_room TEXT NOT NULL,
	PRIMARY KEY (space_room, child_room)
);
