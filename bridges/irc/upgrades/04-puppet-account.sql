-- v3 -> v4: Puppet account names
-- The account a user's password logs in to (SASL, NickServ IDENTIFY) is the
-- nick they gave with "login"; it is kept apart from their nick, so that a
-- connection that had to take another nick still logs in to the right
-- account and asks for the right nick next time. Until now the chosen nick
-- was also the account.
ALTER TABLE irc_puppet ADD COLUMN account TEXT NOT NULL DEFAULT '';
UPDATE irc_puppet SET account=nick WHERE chosen;
