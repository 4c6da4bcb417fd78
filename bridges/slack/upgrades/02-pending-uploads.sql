-- v1 -> v2: Matrix files on their way to Slack
-- A file uploaded from Matrix is shared in a message whose ts Slack does
-- not return; it comes back later over RTM or in catch-up, possibly after
-- a restart. Until then this row says which Matrix event it stands for.
CREATE TABLE slack_pending_upload (
	team_id     TEXT   NOT NULL,
	file_id     TEXT   NOT NULL,
	chat_id     TEXT   NOT NULL,
	receiver    TEXT   NOT NULL,
	room_id     TEXT   NOT NULL,
	event_id    TEXT   NOT NULL,
	sender_mxid TEXT   NOT NULL,
	event_ts    BIGINT NOT NULL,
	added_at    BIGINT NOT NULL,
	-- the ts of the message that shared it, once a login mapped it
	shared_ts   TEXT   NOT NULL DEFAULT '',
	PRIMARY KEY (team_id, file_id)
);
