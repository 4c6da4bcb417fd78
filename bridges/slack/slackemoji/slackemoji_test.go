package slackemoji_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemoji"
)

func TestToUnicode(t *testing.T) {
	tests := []struct {
		name  string
		slack string
		want  string
		ok    bool
	}{
		{"a plain name maps to its emoji", "tada", "🎉", true},
		{"aliases map to the same emoji", "thumbsup", "👍", true},
		{"Slack's own name for thumbs up works", "+1", "👍", true},
		{"colons around the name are ignored", ":eyes:", "👀", true},
		{"a skin tone becomes the Fitzpatrick modifier", "wave::skin-tone-3", "👋🏼", true},
		{"a tone out of range is refused", "wave::skin-tone-9", "", false},
		{"a custom emoji is unknown", "partyparrot", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := slackemoji.ToUnicode(tt.slack)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestToName(t *testing.T) {
	tests := []struct {
		name string
		code string
		want string
		ok   bool
	}{
		{"thumbs up gets Slack's +1", "👍", "+1", true},
		{"the smiling face gets Slack's name, not emojione's", "🙂", "slightly_smiling_face", true},
		{"a heart with the variation selector is found", "❤️", "heart", true},
		{"a heart without the variation selector is found too", "❤", "heart", true},
		{"a toned emoji gets the base name and the tone", "👋🏽", "wave::skin-tone-4", true},
		{"text is not an emoji", "lol", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := slackemoji.ToName(tt.code)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReactions(t *testing.T) {
	t.Run("custom emoji travel to Matrix as their name in colons", func(t *testing.T) {
		assert.Equal(t, ":partyparrot:", slackemoji.ReactionKey("partyparrot"))
	})
	t.Run("a colon name comes back as the custom emoji", func(t *testing.T) {
		name, ok := slackemoji.ReactionName(":partyparrot:")
		assert.True(t, ok)
		assert.Equal(t, "partyparrot", name)
	})
	t.Run("a free-text Matrix reaction cannot be a Slack reaction", func(t *testing.T) {
		_, ok := slackemoji.ReactionName("nice one")
		assert.False(t, ok)
	})
	for _, name := range []string{"+1", "tada", "eyes", "heart", "wave::skin-tone-2", "white_check_mark", "joy", "fire"} {
		t.Run("reaction "+name+" survives a round trip", func(t *testing.T) {
			back, ok := slackemoji.ReactionName(slackemoji.ReactionKey(name))
			assert.True(t, ok)
			assert.Equal(t, name, back)
		})
	}
}
