package ircproto

// Numeric replies the bridge handles, named as in RFC 1459/2812, the
// IRCv3 specifications and modern.ircdocs.horse so they can be searched
// for (hence not Go's MixedCaps). They are strings because
// Message.Command keeps numerics as their three digits.
const (
	// Registration.
	RPL_WELCOME  = "001"
	RPL_YOURHOST = "002"
	RPL_CREATED  = "003"
	RPL_MYINFO   = "004"
	RPL_ISUPPORT = "005"
	RPL_BOUNCE   = "010"

	// Away, WHOIS, WHO.
	RPL_UMODEIS        = "221"
	RPL_TRYAGAIN       = "263"
	RPL_AWAY           = "301"
	RPL_USERHOST       = "302"
	RPL_UNAWAY         = "305"
	RPL_NOWAWAY        = "306"
	RPL_WHOISREGNICK   = "307" // "is a registered nick" (UnrealIRCd, InspIRCd, Hybrid)
	RPL_WHOISUSER      = "311"
	RPL_WHOISSERVER    = "312"
	RPL_WHOISOPERATOR  = "313"
	RPL_WHOWASUSER     = "314"
	RPL_ENDOFWHO       = "315"
	RPL_WHOISIDLE      = "317"
	RPL_ENDOFWHOIS     = "318"
	RPL_WHOISCHANNELS  = "319"
	RPL_WHOISACCOUNT   = "330"
	RPL_WHOREPLY       = "352"
	RPL_WHOSPCRPL      = "354"
	RPL_ENDOFWHOWAS    = "369"
	RPL_WHOISHOST      = "378"
	RPL_WHOISSECURE    = "671"
	RPL_VISIBLEHOST    = "396"
	RPL_LIST           = "322"
	RPL_LISTEND        = "323"
	RPL_CHANNELMODEIS  = "324"
	RPL_CREATIONTIME   = "329"
	RPL_NOTOPIC        = "331"
	RPL_TOPIC          = "332"
	RPL_TOPICWHOTIME   = "333"
	RPL_INVITING       = "341"
	RPL_INVITELIST     = "346"
	RPL_ENDOFINVITELST = "347"
	RPL_EXCEPTLIST     = "348"
	RPL_ENDOFEXCEPTLST = "349"
	RPL_NAMREPLY       = "353"
	RPL_ENDOFNAMES     = "366"
	RPL_BANLIST        = "367"
	RPL_ENDOFBANLIST   = "368"
	RPL_MOTD           = "372"
	RPL_MOTDSTART      = "375"
	RPL_ENDOFMOTD      = "376"
	RPL_YOUREOPER      = "381"

	// Errors.
	ERR_NOSUCHNICK        = "401"
	ERR_NOSUCHSERVER      = "402"
	ERR_NOSUCHCHANNEL     = "403"
	ERR_CANNOTSENDTOCHAN  = "404"
	ERR_TOOMANYCHANNELS   = "405"
	ERR_WASNOSUCHNICK     = "406"
	ERR_TOOMANYTARGETS    = "407"
	ERR_NOORIGIN          = "409"
	ERR_INVALIDCAPCMD     = "410"
	ERR_NORECIPIENT       = "411"
	ERR_NOTEXTTOSEND      = "412"
	ERR_INPUTTOOLONG      = "417"
	ERR_UNKNOWNCOMMAND    = "421"
	ERR_NOMOTD            = "422"
	ERR_NONICKNAMEGIVEN   = "431"
	ERR_ERRONEUSNICKNAME  = "432"
	ERR_NICKNAMEINUSE     = "433"
	ERR_NICKCOLLISION     = "436"
	ERR_UNAVAILRESOURCE   = "437"
	ERR_USERNOTINCHANNEL  = "441"
	ERR_NOTONCHANNEL      = "442"
	ERR_USERONCHANNEL     = "443"
	ERR_NOTREGISTERED     = "451"
	ERR_NEEDMOREPARAMS    = "461"
	ERR_ALREADYREGISTERED = "462"
	ERR_PASSWDMISMATCH    = "464"
	ERR_YOUREBANNEDCREEP  = "465"
	ERR_LINKCHANNEL       = "470"
	ERR_CHANNELISFULL     = "471"
	ERR_UNKNOWNMODE       = "472"
	ERR_INVITEONLYCHAN    = "473"
	ERR_BANNEDFROMCHAN    = "474"
	ERR_BADCHANNELKEY     = "475"
	ERR_BADCHANMASK       = "476"
	ERR_NEEDREGGEDNICK    = "477"
	ERR_NOPRIVILEGES      = "481"
	ERR_CHANOPRIVSNEEDED  = "482"
	ERR_CHANOPPRIVTOOLOW  = "484" // ngIRCd, for a kick of someone who outranks you (RFC 2812: ERR_RESTRICTED)
	ERR_UMODEUNKNOWNFLAG  = "501"
	ERR_USERSDONTMATCH    = "502"

	// MONITOR, for presence of PM partners.
	RPL_MONONLINE    = "730"
	RPL_MONOFFLINE   = "731"
	RPL_MONLIST      = "732"
	RPL_ENDOFMONLIST = "733"
	ERR_MONLISTFULL  = "734"

	// SASL (IRCv3 sasl-3.1).
	RPL_LOGGEDIN    = "900"
	RPL_LOGGEDOUT   = "901"
	ERR_NICKLOCKED  = "902"
	RPL_SASLSUCCESS = "903"
	ERR_SASLFAIL    = "904"
	ERR_SASLTOOLONG = "905"
	ERR_SASLABORTED = "906"
	ERR_SASLALREADY = "907"
	RPL_SASLMECHS   = "908"
)

// IsNumeric reports whether a command is a numeric reply.
func IsNumeric(command string) bool {
	return len(command) == 3 && isDigit(command[0]) && isDigit(command[1]) && isDigit(command[2])
}

// IsError reports whether a numeric is an error reply (400–599), which
// the bridge reports to the user rather than ignoring.
func IsError(command string) bool {
	return IsNumeric(command) && (command[0] == '4' || command[0] == '5')
}
