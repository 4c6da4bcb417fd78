package slackemu

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLinkURLs(t *testing.T) {
	tests := []struct {
		name, in, parse, want string
	}{
		{"a bare URL is linked", "Foo bar http://test.com", "", "Foo bar <http://test.com>"},
		{"a linked URL stays as it is", "see <https://x.org|x> and <https://y.org>", "", "see <https://x.org|x> and <https://y.org>"},
		{"trailing punctuation stays outside", "go to https://x.org/a.", "", "go to <https://x.org/a>."},
		{"a URL inside a word is not one", "xhttp://x.org", "", "xhttp://x.org"},
		{"parse=none leaves the text alone", "Foo bar http://test.com", "none", "Foo bar http://test.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, linkURLs(tt.in, tt.parse)) })
	}
}
