package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/mrkdwn"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemoji"
)

// typingTimeout is how long a user_typing event shows the ghost typing.
// Slack sends no "stopped typing" (https://api.slack.com/events/user_typing
// names only the start) and clients repeat the event every few seconds
// while the user types, so the indicator fades soon after they stop.
const typingTimeout = 6 * time.Second

// handleSlackEvent turns one RTM event into remote events. Event shapes
// are those of https://api.slack.com/events/NAME.
func (s *Session) handleSlackEvent(ctx context.Context, data any) error {
	switch ev := data.(type) {
	case *messageEvent:
		c, err := s.conv(ctx, ev.Channel)
		if err != nil {
			return err
		}
		return s.onMessageEvent(ctx, c, (*slack.Message)(ev))
	case *slack.ReactionAddedEvent:
		return s.onReaction(ctx, slack.ReactionEvent(*ev), bridge.RemoteReaction)
	case *slack.ReactionRemovedEvent:
		return s.onReaction(ctx, slack.ReactionEvent(*ev), bridge.RemoteReactionRemove)
	case *slack.UserTypingEvent:
		if ev.User == s.md.UserID {
			return nil
		}
		c, err := s.conv(ctx, ev.Channel)
		if err != nil {
			return err
		}
		return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteTyping, Portal: s.portalKey(c), Sender: s.sender(ctx, ev.User),
			Typing: true, TypingTimeout: typingTimeout})
	case *slack.PresenceChangeEvent:
		users := ev.Users
		if ev.User != "" {
			users = append(users, ev.User)
		}
		for _, u := range users {
			if err := s.onPresence(ctx, u, ev.Presence); err != nil {
				return err
			}
		}
	case *slack.UserChangeEvent:
		return s.onProfile(ctx, &ev.User)
	case *slack.TeamJoinEvent:
		return s.onProfile(ctx, &ev.User)
	case *slack.MemberJoinedChannelEvent:
		return s.onMembership(ctx, ev.Channel, ev.User, bridge.RemoteJoin)
	case *slack.MemberLeftChannelEvent:
		return s.onMembership(ctx, ev.Channel, ev.User, bridge.RemoteLeave)
	case *slack.ChannelRenameEvent:
		return s.onRename(ctx, ev.Channel.ID, ev.Channel.Name)
	case *groupRenameEvent:
		return s.onRename(ctx, ev.Channel.ID, ev.Channel.Name)
	case *slack.ChannelMarkedEvent:
		return s.onMarked(ctx, ev.Channel, ev.Timestamp)
	case *slack.GroupMarkedEvent:
		return s.onMarked(ctx, ev.Channel, ev.Timestamp)
	case *slack.IMMarkedEvent:
		return s.onMarked(ctx, ev.Channel, ev.Timestamp)
	case *slack.ChannelArchiveEvent:
		s.setArchived(ev.Channel, true)
	case *slack.GroupArchiveEvent:
		s.setArchived(ev.Channel, true)
	case *slack.ChannelUnarchiveEvent:
		s.setArchived(ev.Channel, false)
	case *slack.GroupUnarchiveEvent:
		s.setArchived(ev.Channel, false)
	case *slack.ChannelCreatedEvent:
		// Everyone in the workspace hears of a new channel
		// (https://api.slack.com/events/channel_created); its creator is
		// in it at once.
		if ev.Channel.Creator == s.md.UserID {
			return s.joinedConversation(ctx, ev.Channel.ID)
		}
	case *slack.ChannelJoinedEvent:
		// https://api.slack.com/events/channel_joined, group_joined: the
		// user is in a conversation now.
		return s.joinedConversation(ctx, ev.Channel.ID)
	case *slack.GroupJoinedEvent:
		return s.joinedConversation(ctx, ev.Channel.ID)
	case *mpimOpenEvent:
		// A group DM opened with the user (https://api.slack.com/events/mpim_open):
		// the receiver's portal now rather than with its first message.
		return s.joinedConversation(ctx, ev.Channel)
	case *slack.GroupOpenEvent:
		// The user opened a group DM (https://api.slack.com/events/group_open).
		return s.joinedConversation(ctx, ev.Channel)
	case *slack.IMCreatedEvent:
		return s.onIMCreated(ctx, ev.Channel.ID)
	}
	return nil
}

// onIMCreated handles a DM opened with the user or by them
// (https://api.slack.com/events/im_created): the receiver's portal now, as
// for a group DM, rather than with its first message; one the user opened
// from Matrix has its room. While a conversations.open of StartDM is out,
// whose DM it is is known only once that call is answered: the decision
// waits for it on its own goroutine, and the loop goes on with the next
// events meanwhile.
func (s *Session) onIMCreated(ctx context.Context, id string) error {
	byMatrix, pending := s.opened.check(id)
	if len(pending) == 0 {
		return s.newDM(ctx, id, byMatrix)
	}
	s.spawn(func() {
		for _, call := range pending {
			select {
			case <-call:
			case <-ctx.Done():
				return
			}
		}
		s.handBack(ctx, func(ctx context.Context) {
			byMatrix, _ := s.opened.check(id)
			if err := s.newDM(ctx, id, byMatrix); err != nil && !errors.Is(err, errNotBridged) {
				zerolog.Ctx(ctx).Err(err).Str("event", "im_created").Msg("Failed to handle Slack event")
			}
		})
	})
	return nil
}

// newDM gives a new DM its portal unless StartDM opened it, and its
// person a presence subscription. Either way it is looked up once: a DM
// from StartDM is known already.
func (s *Session) newDM(ctx context.Context, id string, byMatrix bool) error {
	if !byMatrix {
		if err := s.joinedConversation(ctx, id); err != nil {
			return err
		}
	}
	s.subscribePresence(ctx)
	return nil
}

// groupRenameEvent is group_rename, a private channel renamed
// (https://api.slack.com/events/group_rename): the channel object as in
// channel_rename, whose "created" is a Unix time (see init in decode.go).
type groupRenameEvent struct {
	Type    string                  `json:"type"`
	Channel slack.ChannelRenameInfo `json:"channel"`
}

// onRename bridges channel_rename (https://api.slack.com/events/channel_rename)
// and group_rename: the portal's name. A conversation this login never
// looked at has no portal of its to rename.
func (s *Session) onRename(ctx context.Context, channel, name string) error {
	s.cache.mu.Lock()
	c := s.cache.convs[channel]
	if c != nil {
		c.Name = name
	}
	s.cache.mu.Unlock()
	if c == nil {
		return nil
	}
	return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: s.portalKey(c), ChatInfo: &bridge.ChatInfo{Name: &name}})
}

// topicSubtypes are the messages Slack posts when someone sets a
// conversation's topic or purpose (https://api.slack.com/events/message/channel_topic,
// channel_purpose, group_topic, group_purpose).
var topicSubtypes = map[string]bool{
	"channel_topic": true, "channel_purpose": true, "group_topic": true, "group_purpose": true,
}

// onTopic gives the portal the conversation's topic after someone set its
// topic or purpose. The portal shows the topic, or the purpose when there
// is no topic (convFromSlack), and a message about one does not say what
// the other is: the conversation is read again
// (https://api.slack.com/methods/conversations.info). In a backfill or a
// catch-up that is the topic as it is now, which is the one to show.
func (s *Session) onTopic(ctx context.Context, c *convInfo, m *slack.Msg) error {
	if c.IM {
		return nil
	}
	s.forgetConv(c.ID)
	now, err := s.conv(ctx, c.ID)
	if err != nil {
		return err
	}
	topic := now.Topic
	ev := &bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: s.portalKey(now), ChatInfo: &bridge.ChatInfo{Topic: &topic}}
	if m.User != "" {
		ev.Sender = s.sender(ctx, m.User)
	}
	return s.queue(ctx, ev)
}

// mpimOpenEvent is mpim_open (https://api.slack.com/events/mpim_open),
// which slack-go's RTM does not decode by itself (see init in decode.go).
type mpimOpenEvent struct {
	Type           string `json:"type"`
	User           string `json:"user"`
	Channel        string `json:"channel"`
	EventTimestamp string `json:"event_ts"`
}

func (s *Session) forgetConv(id string) {
	s.cache.mu.Lock()
	delete(s.cache.convs, id)
	s.cache.mu.Unlock()
}

// joinedConversation gives a conversation the user is in now (created,
// joined or opened while the session runs) its portal, members and last
// messages, unless this login has seen it before; several events announce
// the same new conversation, and the stored cursor makes the later ones
// no-ops.
func (s *Session) joinedConversation(ctx context.Context, channel string) error {
	if ts, err := s.net.cursor(ctx, s.user.MXID, s.md.TeamID, channel); err != nil || ts != "" {
		return err
	}
	s.forgetConv(channel) // a cached entry may predate the membership
	c, err := s.conv(ctx, channel)
	if err != nil {
		return err
	}
	return s.syncConversation(ctx, c)
}

// onMessageEvent handles "message" and its subtypes
// (https://api.slack.com/events/message): edits and deletions become
// edits and redactions; the rest goes the way of history (onMessage).
func (s *Session) onMessageEvent(ctx context.Context, c *convInfo, m *slack.Message) error {
	switch m.SubType {
	case "message_changed":
		return s.onEdit(ctx, c, m)
	case "message_deleted":
		if s.isEcho("delete:" + c.ID + ":" + m.DeletedTimestamp) {
			return nil
		}
		return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteDelete, Portal: s.portalKey(c),
			Target: bridge.MessageID(m.DeletedTimestamp), Timestamp: tsTime(m.Timestamp)})
	}
	return s.onMessage(ctx, c, &m.Msg)
}

// skippedSubtypes are messages that are not bridged as messages: joins and
// leaves come with their member events
// (https://api.slack.com/events/message/channel_join), message_replied
// only updates a thread's root. Everything else, including subtypes this
// code does not know, is bridged so that nothing is silently dropped.
var skippedSubtypes = map[string]bool{
	"channel_join": true, "channel_leave": true, "group_join": true, "group_leave": true, "message_replied": true,
}

// onMessage bridges one message (live, caught up or backfilled) and moves
// the conversation's cursor past it once the core has journaled it.
func (s *Session) onMessage(ctx context.Context, c *convInfo, m *slack.Msg) error {
	if m.Timestamp == "" || m.Hidden {
		return nil
	}
	if topicSubtypes[m.SubType] {
		// The message itself is bridged too, as Slack shows it.
		if err := s.onTopic(ctx, c, m); err != nil {
			return err
		}
	}
	if skippedSubtypes[m.SubType] {
		// Nothing to bridge, but catch-up should not read it again.
	} else if notice := s.archiveNotice(ctx, c, m); notice != nil {
		if err := s.queue(ctx, notice); err != nil {
			return err
		}
	} else if upload, known, err := s.uploadFromMatrix(ctx, m); err != nil {
		return err
	} else if known {
		// A file uploaded from Matrix: already in the room. Its Matrix
		// event now gets the message's ts, so edits, deletions and
		// reactions of either side find it.
		if upload != nil {
			if _, err := s.net.core.RecordRemoteID(context.WithoutCancel(ctx), upload, bridge.MessageID(m.Timestamp), tsTime(m.Timestamp)); err != nil {
				return fmt.Errorf("map uploaded file: %w", err)
			}
		}
	} else {
		for _, ev := range s.messageEvents(ctx, c, m) {
			if err := s.queue(ctx, ev); err != nil {
				return err
			}
		}
	}
	// The event is journaled: the cursor follows (written in batches, see
	// store.go). Thread replies move it too: RTM delivers in order, so
	// everything before a live reply was seen, and catch-up reads replies
	// after the cursor from the threads that moved (sync.go).
	s.cursors.move(c.ID, m.Timestamp)
	return nil
}

// uploadFromMatrix says whether m shares a file uploaded from Matrix (see
// sendFile), and gives its Matrix message to map, again on a retry.
func (s *Session) uploadFromMatrix(ctx context.Context, m *slack.Msg) (*bridge.MatrixMessage, bool, error) {
	if len(m.Files) == 0 {
		return nil, false, nil
	}
	return s.net.claimUpload(ctx, s.md.TeamID, m.Files[0].ID, m.Timestamp)
}

// inThreadOnly says whether a message is a thread reply that is not also
// in the channel: a thread_broadcast
// (https://api.slack.com/events/message/thread_broadcast) is both.
func inThreadOnly(m *slack.Msg) bool {
	return m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp && m.SubType != "thread_broadcast"
}

// messageEvents converts a message: the text, then one event per file.
// The first part carries the message's ts as its ID, so edits, deletions,
// reactions and replies find it; files after it get "ts/FILEID".
//
// A thread reply goes into the Matrix thread of its root. A reply also
// sent to the channel (thread_broadcast) is in the channel's timeline on
// Slack, so in Matrix it is a reply to the root in the main timeline:
// Matrix clients show a thread's events only inside the thread.
func (s *Session) messageEvents(ctx context.Context, c *convInfo, m *slack.Msg) []*bridge.RemoteEvent {
	key := s.portalKey(c)
	sender := s.messageSender(ctx, m)
	ts := tsTime(m.Timestamp)
	var thread, replyTo bridge.MessageID
	switch {
	case inThreadOnly(m):
		thread = bridge.MessageID(m.ThreadTimestamp)
	case m.SubType == "thread_broadcast" && m.ThreadTimestamp != m.Timestamp:
		replyTo = bridge.MessageID(m.ThreadTimestamp)
	}
	var out []*bridge.RemoteEvent
	conv := mrkdwn.MessageToMatrix(m, s.resolver(ctx))
	if conv.Plain != "" || len(m.Files) == 0 {
		content := matrixContent(conv)
		content.ThreadRoot, content.ReplyTo = thread, replyTo
		if m.SubType == "me_message" {
			content.MsgType = event.MsgEmote
		}
		out = append(out, &bridge.RemoteEvent{Kind: bridge.RemoteMessage, Portal: key, Sender: sender,
			ID: bridge.MessageID(m.Timestamp), Timestamp: ts, Content: content, CreatePortal: true, ChatInfo: s.dmInfo(ctx, c)})
	}
	for _, f := range m.Files {
		id := bridge.MessageID(m.Timestamp)
		if len(out) > 0 {
			id = bridge.MessageID(m.Timestamp + "/" + f.ID)
		}
		out = append(out, &bridge.RemoteEvent{Kind: bridge.RemoteMessage, Portal: key, Sender: sender, ID: id, Timestamp: ts,
			Content: &bridge.Content{MsgType: fileMsgType(f.Mimetype), Body: f.Name, ThreadRoot: thread, ReplyTo: replyTo,
				Media: &bridge.Media{URL: f.URLPrivateDownload, Name: f.Name, MimeType: f.Mimetype, Size: int64(f.Size)}},
			CreatePortal: true, ChatInfo: s.dmInfo(ctx, c)})
	}
	return out
}

// matrixContent is the text content of a converted message, with its
// mentions.
func matrixContent(conv mrkdwn.Message) *bridge.Content {
	content := &bridge.Content{MsgType: event.MsgText, Body: conv.Plain, HTML: conv.HTML, MentionsRoom: conv.RoomMention}
	for _, mx := range conv.Mentions {
		content.Mentions = append(content.Mentions, idUser(mx))
	}
	return content
}

// messageSender is who a message is from: a person, or a bot by the name
// it posted under (https://api.slack.com/events/message/bot_message).
func (s *Session) messageSender(ctx context.Context, m *slack.Msg) bridge.Sender {
	if m.User != "" {
		return s.sender(ctx, m.User)
	}
	if m.BotID != "" {
		name := firstOf(m.Username, m.BotID)
		if m.BotProfile != nil {
			name = firstOf(m.Username, m.BotProfile.Name, m.BotID)
		}
		return bridge.Sender{ID: userKey(s.md.TeamID, m.BotID), Profile: &bridge.Profile{Name: name}}
	}
	return bridge.Sender{}
}

// dmInfo is the chat info a DM portal is created with when its first
// message arrives.
func (s *Session) dmInfo(ctx context.Context, c *convInfo) *bridge.ChatInfo {
	if !c.isDM() {
		return nil
	}
	info, err := s.chatInfo(ctx, c)
	if err != nil {
		return &bridge.ChatInfo{IsDM: true}
	}
	return info
}

func fileMsgType(mime string) event.MessageType {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return event.MsgImage
	case strings.HasPrefix(mime, "video/"):
		return event.MsgVideo
	case strings.HasPrefix(mime, "audio/"):
		return event.MsgAudio
	}
	return event.MsgFile
}

// onEdit bridges message_changed
// (https://api.slack.com/events/message/message_changed). Slack also sends
// it when only link previews change (unfurls); what the message shows is
// then the same, and that is no edit to anyone reading.
func (s *Session) onEdit(ctx context.Context, c *convInfo, m *slack.Message) error {
	cur := m.SubMessage
	if cur == nil {
		return nil
	}
	conv := mrkdwn.MessageToMatrix(cur, s.resolver(ctx))
	if prev := m.PreviousMessage; prev != nil {
		if was := mrkdwn.MessageToMatrix(prev, s.resolver(ctx)); was.Plain == conv.Plain && was.HTML == conv.HTML {
			return nil
		}
	}
	// Checked once the text is known to change, so that an unfurl does
	// not take the echo of a Matrix edit (editEcho).
	if s.isEchoOf(editEcho(c.ID, cur.Timestamp), cur.Text) {
		return nil
	}
	user := cur.User
	if cur.Edited != nil && cur.Edited.User != "" {
		user = cur.Edited.User
	}
	content := matrixContent(conv)
	editTS := m.Timestamp
	if cur.Edited != nil && cur.Edited.Timestamp != "" {
		editTS = cur.Edited.Timestamp
	}
	return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteEdit, Portal: s.portalKey(c), Sender: s.sender(ctx, user),
		ID: bridge.MessageID(editTS), Target: bridge.MessageID(cur.Timestamp), Timestamp: tsTime(editTS), Content: content})
}

// onReaction bridges reaction_added and reaction_removed
// (https://api.slack.com/events/reaction_added). Reactions to files are
// not bridged: only messages have portals' message map entries.
func (s *Session) onReaction(ctx context.Context, ev slack.ReactionEvent, kind bridge.RemoteEventKind) error {
	if ev.Item.Type != "message" {
		return nil
	}
	if s.isEcho(reactionEcho(kind == bridge.RemoteReaction, ev.Item.Channel, ev.Item.Timestamp, ev.Reaction, ev.User)) {
		return nil
	}
	c, err := s.conv(ctx, ev.Item.Channel)
	if err != nil {
		return err
	}
	return s.queue(ctx, &bridge.RemoteEvent{Kind: kind, Portal: s.portalKey(c), Sender: s.sender(ctx, ev.User),
		Target: bridge.MessageID(ev.Item.Timestamp), Reaction: slackemoji.ReactionKey(ev.Reaction), Timestamp: tsTime(ev.EventTimestamp)})
}

// reactionEcho is the echo key of a reaction a Slack user added or
// removed.
func reactionEcho(add bool, channel, ts, name, user string) string {
	op := "unreact:"
	if add {
		op = "react:"
	}
	return op + channel + ":" + ts + ":" + name + ":" + user
}

// onPresence bridges presence_change (https://api.slack.com/events/presence_change):
// "active" is online; "away" (idle, or no client) is unavailable.
func (s *Session) onPresence(ctx context.Context, user, presence string) error {
	state := event.PresenceUnavailable
	if presence == "active" {
		state = event.PresenceOnline
	}
	return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemotePresence,
		Portal: bridge.PortalKey{Network: networkID}, Sender: bridge.Sender{ID: userKey(s.md.TeamID, user)},
		Presence: &bridge.Presence{State: state}})
}

// onProfile bridges user_change and team_join
// (https://api.slack.com/events/user_change): the ghost's name and avatar.
func (s *Session) onProfile(ctx context.Context, u *slack.User) error {
	p := s.storeProfile(u)
	return s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteProfile, Portal: bridge.PortalKey{Network: networkID},
		Sender: bridge.Sender{ID: userKey(s.md.TeamID, u.ID), Profile: p}})
}

// onMembership bridges member_joined_channel and member_left_channel
// (https://api.slack.com/events/member_joined_channel).
func (s *Session) onMembership(ctx context.Context, channel, user string, kind bridge.RemoteEventKind) error {
	c, err := s.conv(ctx, channel)
	if err != nil {
		return err
	}
	s.cache.mu.Lock()
	c.Members = nil // fetched again when next needed
	s.cache.mu.Unlock()
	if user == s.md.UserID && kind == bridge.RemoteJoin {
		// The session's own account joined: a conversation it has not
		// seen gets its portal, members and last messages now.
		if ts, err := s.net.cursor(ctx, s.user.MXID, s.md.TeamID, c.ID); err != nil {
			return err
		} else if ts == "" {
			return s.joinedConversation(ctx, c.ID)
		}
	}
	if s.net.isAppBot(s.md.TeamID, user) {
		return nil // the bridge's own app has no ghost
	}
	sender := s.sender(ctx, user)
	return s.queue(ctx, &bridge.RemoteEvent{Kind: kind, Portal: s.portalKey(c), Sender: sender,
		Member: &bridge.Member{ID: sender.ID, Matrix: sender.Matrix}, CreatePortal: kind == bridge.RemoteJoin && sender.Matrix != ""})
}

// tsTime reads a Slack ts ("seconds.micros") as a time; "" is now.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Now()
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000)
}

// slackTS writes a time as a Slack ts, for history bounds.
func slackTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
