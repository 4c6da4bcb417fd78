package slack

import (
	"testing"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeLeniently(t *testing.T) {
	bad := `[{"type":"context","elements":[{"type":"sparkline"}]}]`
	tests := []struct {
		name string
		in   string
		text string
		sub  string
	}{
		{"a message slack-go reads is read as it is", `{"type":"message","text":"plain","blocks":[{"type":"divider"}]}`, "plain", ""},
		{"a message with a block slack-go cannot read keeps its text", `{"type":"message","text":"kept","blocks":` + bad + `}`, "kept", ""},
		{"an attachment's blocks are dropped too", `{"type":"message","text":"kept","attachments":[{"fallback":"fb","blocks":` + bad + `}]}`, "kept", ""},
		{"an edit keeps the text of the message it carries", `{"type":"message","subtype":"message_changed","message":{"text":"new","blocks":` + bad + `},` +
			`"previous_message":{"text":"old","blocks":` + bad + `}}`, "", "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m messageEvent
			require.NoError(t, m.UnmarshalJSON([]byte(tt.in)))
			assert.Equal(t, tt.text, m.Text)
			if tt.sub != "" {
				require.NotNil(t, m.SubMessage)
				assert.Equal(t, tt.sub, m.SubMessage.Text)
			}
		})
	}

	t.Run("what is not JSON stays an error", func(t *testing.T) {
		var m lenientMessage
		assert.Error(t, m.UnmarshalJSON([]byte(`{"text":`)))
	})

	t.Run("the RTM decodes messages leniently", func(t *testing.T) {
		_, ok := slack.EventMapping["message"].(messageEvent)
		assert.True(t, ok)
	})
}
