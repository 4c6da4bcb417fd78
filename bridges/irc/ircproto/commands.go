package ircproto

import "fmt"

// minParams is the number of parameters each inbound command needs before
// a handler may index Params without checking. Numerics count the client
// nick that servers put first. Commands not listed are not checked.
//
// The counts are the minimum servers actually send, not the full form:
// JOIN has 3 parameters with extended-join but 1 without; optional ones are
// read with Message.Param.
var minParams = map[string]int{
	"PRIVMSG":      2, // target, text
	"NOTICE":       2,
	"TAGMSG":       1, // target
	"JOIN":         1, // channel [account realname]
	"PART":         1, // channel [reason]
	"QUIT":         0, // [reason]
	"KICK":         2, // channel, nick [reason]
	"NICK":         1,
	"MODE":         2, // target, modestring [args...]
	"TOPIC":        2, // channel, topic
	"INVITE":       2, // nick, channel
	"KILL":         1, // nick [reason]
	"PING":         1,
	"PONG":         1,
	"ERROR":        0, // [message]
	"CAP":          3, // client, subcommand, caps (LS may insert '*')
	"AUTHENTICATE": 1,
	"ACCOUNT":      1, // account or '*'
	"AWAY":         0, // [message]; none means back
	"CHGHOST":      2, // user, host
	"SETNAME":      1,
	"BATCH":        1, // +ref type ... or -ref
	"FAIL":         3, // command, code, [context...] description
	"WARN":         3,
	"NOTE":         3,
	"WALLOPS":      1,

	RPL_WELCOME:          1,
	RPL_ISUPPORT:         2, // client, tokens..., text
	RPL_UMODEIS:          2,
	RPL_AWAY:             3, // client, nick, message
	RPL_UNAWAY:           1,
	RPL_NOWAWAY:          1,
	RPL_WHOISUSER:        6, // client, nick, user, host, '*', realname
	RPL_ENDOFWHO:         2,
	RPL_ENDOFWHOIS:       2,
	RPL_WHOISACCOUNT:     3, // client, nick, account
	RPL_WHOISREGNICK:     2, // client, nick [text]
	RPL_WHOREPLY:         8, // client, channel, user, host, server, nick, flags, "hops realname"
	RPL_CHANNELMODEIS:    3, // client, channel, modestring [args...]
	RPL_CREATIONTIME:     3, // client, channel, unix time
	RPL_NOTOPIC:          2,
	RPL_TOPIC:            3, // client, channel, topic
	RPL_TOPICWHOTIME:     4, // client, channel, setter, unix time
	RPL_INVITING:         3, // client, nick, channel
	RPL_NAMREPLY:         3, // client, [symbol,] channel, names (RFC 1459 servers omit the symbol)
	RPL_ENDOFNAMES:       2,
	RPL_BANLIST:          3, // client, channel, mask [setter time]
	RPL_ENDOFBANLIST:     2,
	RPL_VISIBLEHOST:      2,
	ERR_NOSUCHNICK:       2,
	ERR_NOSUCHCHANNEL:    2,
	ERR_CANNOTSENDTOCHAN: 2,
	ERR_TOOMANYCHANNELS:  2,
	ERR_INVALIDCAPCMD:    2,
	ERR_UNKNOWNCOMMAND:   2,
	ERR_ERRONEUSNICKNAME: 2, // client, nick
	ERR_NICKNAMEINUSE:    2,
	ERR_NICKCOLLISION:    2,
	ERR_UNAVAILRESOURCE:  2,
	ERR_USERNOTINCHANNEL: 3, // client, nick, channel
	ERR_NOTONCHANNEL:     2,
	ERR_USERONCHANNEL:    3, // client, nick, channel
	ERR_NOTREGISTERED:    1,
	ERR_NEEDMOREPARAMS:   2, // client, command
	ERR_PASSWDMISMATCH:   1,
	ERR_YOUREBANNEDCREEP: 1,
	ERR_LINKCHANNEL:      3, // client, channel, forward target
	ERR_CHANNELISFULL:    2,
	ERR_INVITEONLYCHAN:   2,
	ERR_BANNEDFROMCHAN:   2,
	ERR_BADCHANNELKEY:    2,
	ERR_BADCHANMASK:      2,
	ERR_NEEDREGGEDNICK:   2,
	ERR_CHANOPRIVSNEEDED: 2,
	ERR_CHANOPPRIVTOOLOW: 3, // client, channel, text; RFC 2812 ERR_RESTRICTED has 2
	RPL_MONONLINE:        2, // client, targets
	RPL_MONOFFLINE:       2,
	RPL_LOGGEDIN:         3, // client, nick!user@host, account
	RPL_LOGGEDOUT:        2,
	ERR_NICKLOCKED:       1,
	RPL_SASLSUCCESS:      1,
	ERR_SASLFAIL:         1,
	ERR_SASLTOOLONG:      1,
	ERR_SASLABORTED:      1,
	ERR_SASLALREADY:      1,
	RPL_SASLMECHS:        2, // client, mechanisms
}

// MinParams returns how many parameters an inbound command needs, and
// whether the command is in the table at all.
func MinParams(command string) (int, bool) {
	n, ok := minParams[command]
	return n, ok
}

// CheckParams checks a received message against the command table once,
// at the door, so that handlers can index the parameters they need
// without checking again. It returns an error wrapping ErrNeedMoreParams;
// unknown commands pass.
func CheckParams(m *Message) error {
	if n, ok := minParams[m.Command]; ok && len(m.Params) < n {
		return fmt.Errorf("%w: %s has %d, needs %d", ErrNeedMoreParams, m.Command, len(m.Params), n)
	}
	return nil
}
