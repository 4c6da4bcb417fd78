package appservice

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"

	mauas "maunium.net/go/mautrix/appservice"
)

// GenerateToken returns a fresh random secret for as_token or hs_token:
// 64 URL-safe characters (384 bits from crypto/rand).
func GenerateToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Namespaces are what the networks reserve in the registration: user ID and
// room alias regexes (matched against full IDs, e.g. ^@irc_.*:example\.org$)
// and third-party protocol IDs.
type Namespaces struct {
	Users     []string
	Aliases   []string
	Protocols []string
}

// NewRegistration derives registration.yaml from the config: the tokens, the
// bot as sender, exclusive namespaces for the given users (plus the bot) and
// aliases, the protocols, no rate limiting, and ephemeral events pushed
// under both the stable and the MSC2409 key. A regex that is not anchored at
// both ends is wrapped as ^(?:regex)$, so a namespace never claims more than
// whole IDs. Save it with its Save or YAML method.
func NewRegistration(cfg Config, domain string, ns Namespaces) *mauas.Registration {
	rateLimited := false
	reg := &mauas.Registration{
		ID:                  cfg.ID,
		URL:                 cfg.URL,
		AppToken:            cfg.ASToken,
		ServerToken:         cfg.HSToken,
		SenderLocalpart:     cfg.Bot.Localpart,
		RateLimited:         &rateLimited,
		Protocols:           slices.Clone(ns.Protocols),
		EphemeralEvents:     true,
		SoruEphemeralEvents: true,
	}
	bot := "^@" + regexp.QuoteMeta(cfg.Bot.Localpart+":"+domain) + "$"
	users := append([]string{bot}, ns.Users...)
	reg.Namespaces.UserIDs = exclusive(users)
	reg.Namespaces.RoomAliases = exclusive(ns.Aliases)
	return reg
}

// exclusive turns regexes into exclusive namespaces, anchored and without
// duplicates, in the order given.
func exclusive(regexes []string) mauas.NamespaceList {
	var list mauas.NamespaceList
	seen := make(map[string]bool, len(regexes))
	for _, re := range regexes {
		re = anchor(re)
		if seen[re] {
			continue
		}
		seen[re] = true
		list = append(list, mauas.Namespace{Regex: re, Exclusive: true})
	}
	return list
}

// anchor makes a regex match whole strings only. One already anchored at
// both ends is kept as written unless it has an alternation, where "^a|b$"
// would still match any string ending in b.
func anchor(re string) string {
	if strings.HasPrefix(re, "^") && strings.HasSuffix(re, "$") && !strings.HasSuffix(re, `\$`) && !strings.Contains(re, "|") {
		return re
	}
	return "^(?:" + re + ")$"
}
