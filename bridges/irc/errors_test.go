package irc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassifyClose(t *testing.T) {
	for _, tc := range []struct {
		name         string
		text         string
		registered   bool
		sentPassword bool
		want         error
	}{
		{"a K-line is a ban", "Closing Link: host (K-Lined: spam)", true, false, ErrBanned},
		{"a kill", "Closing Link: host (Killed (oper (flooding)))", true, false, ErrKilled},
		{"ngIRCd's bad password", "Access denied: Bad password?", false, true, ErrBadPassword},
		{"InspIRCd's refusal after our PASS", "Closing link: (p@127.0.0.1) [Access denied by configuration]", false, true, ErrBadPassword},
		{"InspIRCd's refusal without a PASS is no password problem", "Closing link: (p@127.0.0.1) [Access denied by configuration]", false, false, ErrServerClosed},
		{"a password word once registered is no refusal", "Closing link: (quit: forgot my password)", true, true, ErrServerClosed},
		{"anything else", "Closing link: (p@127.0.0.1) [Registration timeout]", false, true, ErrServerClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classifyClose(tc.text, tc.registered, tc.sentPassword)
			assert.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.text, "the server's words are shown")
		})
	}
}
