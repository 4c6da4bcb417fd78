-- v0 -> v1: what each login saw last in each Slack conversation
CREATE TABLE slack_cursor (
	user_mxid TEXT NOT NULL,
	team_id   TEXT NOT NULL,
	channel   TEXT NOT NULL,
	last_ts   TEXT NOT NULL,
	PRIMARY KEY (user_mxid, team_id, channel)
);
