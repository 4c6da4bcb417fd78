package slack

import (
	"context"
	"strings"

	"github.com/slack-go/slack"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// This file holds the state of a conversation as the logged-in user sees
// it: their read marker, and whether the channel is archived.

// Read markers travel both ways and would echo forever: a Matrix receipt
// becomes conversations.mark, which Slack broadcasts back as
// channel_marked, which becomes a Matrix receipt through the double
// puppet, which comes back as a receipt. Each side therefore only acts on
// a marker newer than the last one either side set (cache.marks).

// advanceMark records ts as the user's read marker in a conversation and
// reports whether it moved the marker forward.
func (s *Session) advanceMark(channel, ts string) bool {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if !tsAfter(ts, s.cache.marks[channel]) {
		return false
	}
	s.cache.marks[channel] = ts
	return true
}

// tsAfter compares two Slack ts ("seconds.micros") as numbers; every ts is
// after "".
func tsAfter(a, b string) bool {
	if b == "" {
		return a != ""
	}
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if len(as) != len(bs) {
		return len(as) > len(bs)
	}
	if as != bs {
		return as > bs
	}
	return af > bf
}

// onMarked bridges channel_marked, group_marked and im_marked
// (https://api.slack.com/events/channel_marked, .../group_marked,
// .../im_marked): the user read up to ts in a Slack app, so their Matrix
// account (through the double puppet; without one the core drops it)
// reads up to the same message.
func (s *Session) onMarked(ctx context.Context, channel, ts string) error {
	if ts == "" || !s.advanceMark(channel, ts) {
		return nil
	}
	c, err := s.conv(ctx, channel)
	if err != nil {
		return err
	}
	return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteReadMarker, Portal: s.portalKey(c),
		Sender: bridge.Sender{ID: userKey(s.md.TeamID, s.md.UserID), Matrix: s.user.MXID},
		Target: bridge.MessageID(ts), Timestamp: tsTime(ts)})
}

// HandleMatrixReadReceipt moves the user's read marker in Slack
// (https://api.slack.com/methods/conversations.mark) to the message they
// read up to in Matrix, unless Slack's marker is there already.
func (s *Session) HandleMatrixReadReceipt(ctx context.Context, portal *bridge.Portal, upTo *bridge.Message) error {
	if upTo == nil {
		return nil
	}
	ch, err := s.channelOf(portal)
	if err != nil {
		return err
	}
	ts := messageTS(upTo.RemoteID)
	if !s.advanceMark(ch, ts) {
		return nil
	}
	return s.checkAuth(ctx, s.api.MarkConversationContext(ctx, ch, ts))
}

// Archiving: an archived Slack channel keeps its history but takes no
// messages. The portal stays as it is (its history is still worth
// reading) and gets a notice from the bridge bot when the channel is
// archived or unarchived; while archived, what Matrix users send there is
// refused at once with a notice rather than tried and retried. The notice
// comes from the channel_archive message rather than the event, because
// the message has a ts and is in the history that catch-up reads.

// setArchived records a channel's archived state from channel_archive and
// friends (https://api.slack.com/events/channel_archive,
// https://api.slack.com/events/group_archive and the unarchive pages).
func (s *Session) setArchived(channel string, archived bool) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if c := s.cache.convs[channel]; c != nil {
		c.Archived = archived
	}
}

// archived reports whether a conversation is archived, as far as this
// session knows.
func (s *Session) archived(channel string) bool {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	c := s.cache.convs[channel]
	return c != nil && c.Archived
}

// archiveSubtypes are the messages Slack posts when a channel is archived
// or unarchived (https://api.slack.com/events/message/channel_archive,
// .../channel_unarchive, .../group_archive, .../group_unarchive).
var archiveSubtypes = map[string]bool{
	"channel_archive": true, "group_archive": true, "channel_unarchive": false, "group_unarchive": false,
}

// archiveNotice turns an archive message into the bot's notice in the
// portal, and records the state; nil for other messages.
func (s *Session) archiveNotice(ctx context.Context, c *convInfo, m *slack.Msg) *bridge.RemoteEvent {
	archived, ok := archiveSubtypes[m.SubType]
	if !ok {
		return nil
	}
	s.setArchived(c.ID, archived)
	who := "Someone"
	if p := s.profile(ctx, m.User); p != nil && p.Name != "" {
		who = p.Name
	}
	text := who + " archived this channel on Slack: messages sent here no longer reach it."
	if !archived {
		text = who + " unarchived this channel on Slack: messages sent here reach it again."
	}
	return &bridge.RemoteEvent{Kind: bridge.RemoteMessage, Portal: s.portalKey(c), ID: bridge.MessageID(m.Timestamp),
		Timestamp: tsTime(m.Timestamp), Content: &bridge.Content{MsgType: event.MsgNotice, Body: text}}
}

// errArchived is what a Matrix user is told for a message to an archived
// channel.
func (s *Session) errArchived() error {
	return &permanentError{msg: "this channel is archived on Slack, so nothing can be sent to it"}
}
