package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// TestPendingUploads checks the stored uploads on both databases: the
// sharing message maps the upload, also when it is seen again after a
// restart between the claim and the mapping, and the same file shared
// again later is a new message.
func TestPendingUploads(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		n := NewNetwork(DefaultConfig(), bridge.CommonConfig{Domain: "example.org"})
		require.NoError(t, n.start(ctx, newRecorder(), db.Child("slack_version", upgrades, nil)))
		msg := &bridge.MatrixMessage{
			Portal: &bridge.Portal{Key: bridge.PortalKey{Network: networkID, Chat: "T1-D1", Receiver: string(alice)}, MXID: "!dm:example.org"},
			Sender: &bridge.User{MXID: alice},
			Event:  &event.Event{ID: "$file", Timestamp: 1700000000123},
		}
		require.NoError(t, n.addUpload(ctx, "T1", "F1", msg))
		require.NoError(t, n.addUpload(ctx, "T1", "F1", msg), "a retried upload is harmless")

		got, known, err := n.claimUpload(ctx, "T1", "F1", "1.000001")
		require.NoError(t, err)
		assert.True(t, known)
		require.NotNil(t, got, "the first to see it maps it")
		assert.Equal(t, msg.Portal.Key, got.Portal.Key)
		assert.Equal(t, msg.Portal.MXID, got.Portal.MXID)
		assert.Equal(t, msg.Event.ID, got.Event.ID)
		assert.Equal(t, msg.Event.Timestamp, got.Event.Timestamp)
		assert.Equal(t, alice, got.Sender.MXID)

		// The bridge stops between the claim and the mapping: the new
		// process, or another login, gets the message to map again.
		restarted := NewNetwork(DefaultConfig(), bridge.CommonConfig{Domain: "example.org"})
		require.NoError(t, restarted.start(ctx, newRecorder(), db.Child("slack_version", upgrades, nil)))
		got, known, err = restarted.claimUpload(ctx, "T1", "F1", "1.000001")
		require.NoError(t, err)
		assert.True(t, known, "the same message, seen again after a restart")
		require.NotNil(t, got, "is still mapped")
		assert.Equal(t, msg.Event.ID, got.Event.ID)

		_, known, err = n.claimUpload(ctx, "T1", "F1", "2.000001")
		require.NoError(t, err)
		assert.False(t, known, "shared again later, it is a new message")
		_, known, err = n.claimUpload(ctx, "T2", "F1", "1.000001")
		require.NoError(t, err)
		assert.False(t, known, "file IDs are per workspace")

		require.NoError(t, n.addUpload(ctx, "T1", "F2", msg))
		n.forgetUpload(ctx, "T1", "F2")
		_, known, err = n.claimUpload(ctx, "T1", "F2", "3.000001")
		require.NoError(t, err)
		assert.False(t, known, "a failed upload is forgotten")
	})
}

// TestFilesAreFetchedWithTheTokenOnlyFromSlack checks that the login's
// token goes only to Slack's hosts and the configured API's host: a file
// shared from elsewhere may carry any URL.
func TestFilesAreFetchedWithTheTokenOnlyFromSlack(t *testing.T) {
	hits := 0
	outside := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(outside.Close)
	cfg := DefaultConfig()
	cfg.APIURL = "http://127.0.0.1:9/api/"
	n := NewNetwork(cfg, bridge.CommonConfig{Domain: "example.org"})
	for _, tt := range []struct {
		url  string
		sent bool
	}{
		{"https://files.slack.com/files-pri/T1-F1/cat.png", true},
		{"https://slack.com/files-pri/T1-F1/cat.png", true},
		{"https://acme.slack.com/files-pri/T1-F1/cat.png", true},
		{"http://127.0.0.1:9/files-pri/T1-F1/cat.png", true},
		{"http://files.slack.com/files-pri/T1-F1/cat.png", false},
		{"https://slack.com.evil.example/files-pri/T1-F1/cat.png", false},
		{"https://evilslack.com/files-pri/T1-F1/cat.png", false},
		{"http://127.0.0.1:10/files-pri/T1-F1/cat.png", false},
	} {
		u, err := url.Parse(tt.url)
		require.NoError(t, err)
		assert.Equal(t, tt.sent, n.tokenHost(u), tt.url)
	}
	_, _, err := n.FetchMedia(context.Background(), &bridge.Media{URL: outside.URL + "/files-pri/T1-F1/cat.png"})
	require.ErrorIs(t, err, bridge.ErrPermanent)
	assert.Zero(t, hits, "the outside host was asked")
}
