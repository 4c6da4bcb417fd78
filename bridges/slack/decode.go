package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slack-go/slack"
)

// Slack adds block types and elements faster than slack-go learns them,
// and slack-go fails a whole message on one it does not know: an RTM
// message event is then dropped, and a page of conversations.history with
// such a message fails whole, stalling catch-up of that conversation.
// Messages are therefore decoded here: as slack-go decodes them, and when
// that fails, again without their blocks. Slack requires a message's text
// as the fallback of its blocks, and MessageToMatrix shows it when there
// are no blocks, so nothing that was said is lost.

// messageEvent is the RTM "message" event
// (https://api.slack.com/events/message) decoded leniently; init puts it
// in slack-go's event table in place of slack.MessageEvent.
type messageEvent slack.MessageEvent

func (m *messageEvent) UnmarshalJSON(b []byte) error {
	return decodeLeniently(b, (*slack.MessageEvent)(m))
}

// lenientMessage is one message of conversations.history, decoded
// leniently.
type lenientMessage slack.Message

func (m *lenientMessage) UnmarshalJSON(b []byte) error {
	return decodeLeniently(b, (*slack.Message)(m))
}

// init sets slack-go's table of RTM (and Events API) event types, as its
// doc asks: once, before any connection reads events. Messages decode
// leniently, mpim_open, which slack-go does not know, decodes at all, and
// so does group_rename, whose "created" slack-go reads as a string where
// Slack sends a number.
func init() {
	slack.EventMapping["message"] = messageEvent{}
	if _, known := slack.EventMapping["mpim_open"]; !known {
		slack.EventMapping["mpim_open"] = mpimOpenEvent{}
	}
	slack.EventMapping["group_rename"] = groupRenameEvent{}
}

// decodeLeniently decodes b into v, dropping every "blocks" in it (the
// message's, its attachments', those of the messages an edit carries) when
// the first try fails.
func decodeLeniently(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // ints stay exact
	var tree any
	if dec.Decode(&tree) != nil || !dropBlocks(tree) {
		return err
	}
	stripped, merr := json.Marshal(tree)
	if merr != nil {
		return err
	}
	return json.Unmarshal(stripped, v)
}

// dropBlocks deletes the "blocks" keys of a decoded JSON tree and reports
// whether there were any.
func dropBlocks(node any) bool {
	found := false
	switch n := node.(type) {
	case map[string]any:
		if _, ok := n["blocks"]; ok {
			delete(n, "blocks")
			found = true
		}
		for _, child := range n {
			found = dropBlocks(child) || found
		}
	case []any:
		for _, child := range n {
			found = dropBlocks(child) || found
		}
	}
	return found
}

// historyPage is an answer of https://api.slack.com/methods/conversations.history
// or https://api.slack.com/methods/conversations.replies: the same shape.
type historyPage struct {
	slack.SlackResponse
	Messages         []lenientMessage `json:"messages"`
	HasMore          bool             `json:"has_more"`
	ResponseMetadata struct {
		NextCursor string `json:"next_cursor"`
	} `json:"response_metadata"`
}

// history reads one page of conversations.history, newest first, with
// lenient message decoding (slack-go's GetConversationHistory fails the
// page on a block it does not know). It goes through the same HTTP client
// as every other call: the d cookie, and 429s waited out.
func (s *Session) history(ctx context.Context, p slack.GetConversationHistoryParameters) ([]slack.Message, bool, string, error) {
	form := url.Values{"channel": {p.ChannelID}}
	setTimeRange(form, p.Oldest, p.Latest, p.Inclusive, p.Limit, p.Cursor)
	return s.messagesPage(ctx, "conversations.history", form)
}

// replies reads one page of conversations.replies, oldest first, leniently
// like history. The page starts with the thread's parent.
func (s *Session) replies(ctx context.Context, p slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error) {
	form := url.Values{"channel": {p.ChannelID}, "ts": {p.Timestamp}}
	setTimeRange(form, p.Oldest, p.Latest, p.Inclusive, p.Limit, p.Cursor)
	return s.messagesPage(ctx, "conversations.replies", form)
}

// setTimeRange puts the arguments history and replies share in a form,
// leaving out what is unset.
func setTimeRange(form url.Values, oldest, latest string, inclusive bool, limit int, cursor string) {
	for k, v := range map[string]string{"oldest": oldest, "latest": latest, "cursor": cursor} {
		if v != "" {
			form.Set(k, v)
		}
	}
	if limit > 0 {
		form.Set("limit", strconv.Itoa(limit))
	}
	if inclusive {
		form.Set("inclusive", "true")
	}
}

// messagesPage calls a method that answers a page of messages.
func (s *Session) messagesPage(ctx context.Context, method string, form url.Values) ([]slack.Message, bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.net.cfg.APIURL+method, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, false, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.md.Token)
	resp, err := newHTTPDoer(s.md.Cookie, s.net.cfg.MaxRetryAfter).Do(req)
	if err != nil {
		return nil, false, "", fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false, "", fmt.Errorf("%s: HTTP %d", method, resp.StatusCode)
	}
	var page historyPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, false, "", fmt.Errorf("%s: %w", method, err)
	}
	if err := page.Err(); err != nil {
		return nil, false, "", err
	}
	msgs := make([]slack.Message, len(page.Messages))
	for i := range page.Messages {
		msgs[i] = slack.Message(page.Messages[i])
	}
	return msgs, page.HasMore, page.ResponseMetadata.NextCursor, nil
}
