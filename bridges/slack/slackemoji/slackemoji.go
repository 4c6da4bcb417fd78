// Package slackemoji maps Slack emoji names (reactions, :shortcodes: in
// text) to Unicode and back, for reactions bridged as Matrix m.reaction
// keys, which are the emoji themselves.
//
// The table is github.com/kyokomi/emoji/v2 (MIT), which merges the gemoji,
// emojione and CLDR names. Slack's names are those of iamcal/emoji-data
// (the "short_name" of each emoji), which are mostly gemoji's; where the
// library's first name for an emoji is not the one Slack uses, the
// preferred table below says Slack's, so that reactions we send look like
// the ones Slack users add.
//
// Custom workspace emoji have no Unicode. They travel to Matrix as their
// name between colons (":partyparrot:"), and a Matrix reaction key of that
// form goes back to Slack as the name.
package slackemoji

import (
	"strconv"
	"strings"

	"github.com/kyokomi/emoji/v2"
)

var (
	codes = emoji.CodeMap()    // ":name:" → emoji
	names = emoji.RevCodeMap() // emoji → [":name:", ...]
)

// preferred are Slack's names for common reactions where the library lists
// another name first (e.g. "slight_smile", emojione's, for 🙂).
var preferred = map[string]string{
	"🙂": "slightly_smiling_face",
	"🤔": "thinking_face",
	"👍": "+1",
	"👎": "-1",
	"😂": "joy",
	"🎉": "tada",
	"😄": "smile",
	"😀": "grinning",
	"😃": "smiley",
	"🙏": "pray",
	"✅": "white_check_mark",
	"💯": "100",
	"😢": "cry",
	"👏": "clap",
	"😉": "wink",
	"👋": "wave",
	"😆": "laughing",
	"🙌": "raised_hands",
	"😍": "heart_eyes",
	"🤣": "rolling_on_the_floor_laughing",
	"😅": "sweat_smile",
	"😊": "blush",
	"🤷": "shrug",
	"🙃": "upside_down_face",
	"😭": "sob",
	"😎": "sunglasses",
	"🤯": "exploding_head",
	"🥳": "partying_face",
	"💪": "muscle",
	"❌": "x",
}

const (
	variationSelector = "\ufe0f"
	// Slack writes skin tones as a second name: "wave::skin-tone-3". The
	// tones are the Fitzpatrick modifiers U+1F3FB (skin-tone-2) to U+1F3FF
	// (skin-tone-6).
	toneSep        = "::skin-tone-"
	firstTone rune = 0x1F3FB
)

// ToUnicode returns the emoji for a Slack name ("+1", "thumbsup",
// "wave::skin-tone-3"); ok is false for names it does not know (custom
// emoji).
func ToUnicode(name string) (string, bool) {
	name = strings.Trim(name, ":")
	base, tone, hasTone := strings.Cut(name, toneSep)
	code, ok := codes[":"+base+":"]
	if !ok {
		return "", false
	}
	if hasTone {
		n, err := strconv.Atoi(tone)
		if err != nil || n < 2 || n > 6 {
			return "", false
		}
		code = strings.TrimSuffix(code, variationSelector) + string(firstTone+rune(n-2))
	}
	return code, true
}

// ToName returns the Slack name for an emoji, with its skin tone as Slack
// writes it. ok is false when the text is not one emoji the table knows.
func ToName(code string) (string, bool) {
	// Toned emoji first: the library names them emojione's way
	// ("wave_tone2"), Slack as the base name and the tone.
	runes := []rune(code)
	if n := len(runes); n >= 2 && runes[n-1] >= firstTone && runes[n-1] <= firstTone+4 {
		if base, ok := lookupName(string(runes[:n-1])); ok {
			return base + toneSep + strconv.Itoa(int(runes[n-1]-firstTone)+2), true
		}
	}
	return lookupName(code)
}

// lookupName finds a name with or without the variation selector, which
// Matrix clients add or leave out inconsistently (❤ and ❤️).
func lookupName(code string) (string, bool) {
	bare := strings.ReplaceAll(code, variationSelector, "")
	// The emoji-presentation form first: the library names plain ❤
	// "red_heart" (CLDR) but ❤️ "heart", which is Slack's name.
	for _, c := range []string{bare + variationSelector, code, bare} {
		if p, ok := preferred[c]; ok {
			return p, true
		}
		if list := names[c]; len(list) > 0 {
			return strings.Trim(list[0], ":"), true
		}
	}
	return "", false
}

// ReactionKey is the Matrix reaction key for a Slack reaction name: the
// emoji, or ":name:" for custom emoji.
func ReactionKey(name string) string {
	if code, ok := ToUnicode(name); ok {
		return code
	}
	return ":" + strings.Trim(name, ":") + ":"
}

// ReactionName is the Slack reaction name for a Matrix reaction key; ok is
// false when the key is neither a known emoji nor a ":name:" (Slack
// reactions can only be emoji).
func ReactionName(key string) (string, bool) {
	if name, ok := ToName(key); ok {
		return name, true
	}
	if len(key) > 2 && strings.HasPrefix(key, ":") && strings.HasSuffix(key, ":") {
		name := key[1 : len(key)-1]
		if !strings.ContainsAny(name, " :") {
			return name, true
		}
	}
	return "", false
}
