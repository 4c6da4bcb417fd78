package slackemu_test

import (
	"context"
	"testing"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestThreads checks what api.slack.com/methods/conversations.history and
// conversations.replies say of threads: parents carry their thread's
// state, replies come parent first, oldest first, in pages.
func TestThreads(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.client(aliceToken)
	root := f.emu.Post(f.general, "U002", "root", "")
	var replies []string
	for _, who := range []string{"U003", "U001", "U003", "U002", "U003"} {
		replies = append(replies, f.emu.Post(f.general, who, "reply by "+who, root))
	}
	f.emu.Post(f.general, "U002", "after the thread", "")
	texts := func(msgs []slack.Message) []string {
		var out []string
		for _, m := range msgs {
			out = append(out, m.Text)
		}
		return out
	}

	t.Run("history shows the parent with reply_count, reply_users and latest_reply", func(t *testing.T) {
		hist, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general})
		require.NoError(t, err)
		require.Equal(t, []string{"after the thread", "root"}, texts(hist.Messages))
		parent := hist.Messages[1]
		assert.Equal(t, root, parent.ThreadTimestamp)
		assert.Equal(t, 5, parent.ReplyCount)
		assert.ElementsMatch(t, []string{"U001", "U002", "U003"}, parent.ReplyUsers)
		assert.Equal(t, replies[4], parent.LatestReply)
		assert.Empty(t, hist.Messages[0].ThreadTimestamp, "a message nobody answered has no thread")
	})

	t.Run("a deleted reply no longer counts", func(t *testing.T) {
		extra := f.emu.Post(f.general, "U001", "soon gone", root)
		require.True(t, f.emu.Delete(f.general, extra))
		hist, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general, Latest: root, Inclusive: true, Limit: 1})
		require.NoError(t, err)
		require.Len(t, hist.Messages, 1)
		assert.Equal(t, 5, hist.Messages[0].ReplyCount)
		assert.Equal(t, replies[4], hist.Messages[0].LatestReply)
	})

	tests := []struct {
		name   string
		params slack.GetConversationRepliesParameters
		want   []int // the replies after the parent, by index
	}{
		{"replies come after their parent, oldest first", slack.GetConversationRepliesParameters{}, []int{0, 1, 2, 3, 4}},
		{"oldest is exclusive and the parent still heads the page", slack.GetConversationRepliesParameters{Oldest: replies[1]}, []int{2, 3, 4}},
		{"inclusive takes the bounds in", slack.GetConversationRepliesParameters{Oldest: replies[1], Latest: replies[3], Inclusive: true}, []int{1, 2, 3}},
		{"latest is exclusive", slack.GetConversationRepliesParameters{Oldest: replies[1], Latest: replies[3]}, []int{2}},
		{"small pages follow the cursor to the end", slack.GetConversationRepliesParameters{Limit: 2}, []int{0, 1, 2, 3, 4}},
		{"pages keep the time range", slack.GetConversationRepliesParameters{Oldest: replies[0], Limit: 2}, []int{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			p.ChannelID, p.Timestamp = f.general, replies[2] // a reply's ts names its thread
			var got []slack.Message
			pages := 0
			for {
				page, more, next, err := alice.GetConversationRepliesContext(ctx, &p)
				require.NoError(t, err)
				if p.Limit > 0 {
					assert.LessOrEqual(t, len(page), p.Limit)
				}
				got = append(got, page...)
				pages++
				if !more {
					assert.Empty(t, next)
					break
				}
				require.NotEmpty(t, next)
				require.Less(t, pages, 10, "pagination never ends")
				p.Cursor = next
			}
			require.NotEmpty(t, got)
			assert.Equal(t, root, got[0].Timestamp, "the parent comes first")
			assert.Equal(t, 5, got[0].ReplyCount)
			var want []string
			for _, i := range tt.want {
				want = append(want, replies[i])
			}
			var ts []string
			for _, m := range got[1:] {
				ts = append(ts, m.Timestamp)
				assert.Equal(t, root, m.ThreadTimestamp)
			}
			assert.Equal(t, want, ts)
		})
	}

	t.Run("a message nobody answered is a thread of one", func(t *testing.T) {
		lone := f.emu.Post(f.general, "U002", "alone", "")
		msgs, more, _, err := alice.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: f.general, Timestamp: lone})
		require.NoError(t, err)
		assert.False(t, more)
		assert.Equal(t, []string{"alone"}, texts(msgs))
	})

	t.Run("an unknown ts is thread_not_found", func(t *testing.T) {
		_, _, _, err := alice.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: f.general, Timestamp: "1.000001"})
		assert.EqualError(t, err, "thread_not_found")
	})
}
