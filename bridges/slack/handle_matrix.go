package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/slack-go/slack"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/mrkdwn"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemoji"
)

var (
	_ bridge.Session            = (*Session)(nil)
	_ bridge.EditHandler        = (*Session)(nil)
	_ bridge.RedactionHandler   = (*Session)(nil)
	_ bridge.ReactionHandler    = (*Session)(nil)
	_ bridge.TypingHandler      = (*Session)(nil)
	_ bridge.PresenceHandler    = (*Session)(nil)
	_ bridge.DMStarter          = (*Session)(nil)
	_ bridge.ChatMember         = (*Session)(nil)
	_ bridge.ChatInfoGetter     = (*Session)(nil)
	_ bridge.ReadReceiptHandler = (*Session)(nil)
	_ bridge.LogoutHandler      = (*Session)(nil)
	_ bridge.MembershipHandler  = (*Session)(nil)
	_ bridge.Revoker            = (*Session)(nil)
)

func idUser(s string) id.UserID { return id.UserID(s) }

// channelOf returns the Slack conversation ID of a portal of this
// session's workspace.
func (s *Session) channelOf(p *bridge.Portal) (string, error) {
	team, ch, ok := splitKey(string(p.Key.Chat))
	if !ok || team != s.md.TeamID {
		return "", fmt.Errorf("%w: %s is not in workspace %s", bridge.ErrPermanent, p.Key.Chat, s.md.TeamName)
	}
	return ch, nil
}

// InChat says whether this login's workspace holds the chat, so a user
// logged into several workspaces is routed to the right one. It does no
// I/O: the workspace is in the chat ID.
//
// The core asks about the empty chat when a user invites a ghost to a new
// direct chat: every login says yes, and StartDM hands the DM to the
// user's login of the ghost's workspace.
func (s *Session) InChat(chat bridge.ChatID) bool {
	if chat == "" {
		return true
	}
	team, _, ok := splitKey(string(chat))
	return ok && team == s.md.TeamID
}

// resolver answers the mrkdwn converter's questions for this workspace.
func (s *Session) resolver(ctx context.Context) *mrkdwn.Resolver {
	return &mrkdwn.Resolver{
		User: func(user string) (string, string) {
			name := user
			if p := s.profile(ctx, user); p != nil && p.Name != "" {
				name = p.Name
			}
			if mx := s.net.matrixAccount(s.md.TeamID, user); mx != "" {
				return string(mx), name
			}
			return string(s.net.core.GhostMXID(networkID, userKey(s.md.TeamID, user))), name
		},
		Channel: func(ch string) (string, string) {
			name := ch
			s.cache.mu.Lock()
			if c := s.cache.convs[ch]; c != nil && c.Name != "" {
				name = c.Name
			}
			s.cache.mu.Unlock()
			if p, err := s.net.core.GetPortal(ctx, bridge.PortalKey{Network: networkID, Chat: chatKey(s.md.TeamID, ch)}); err == nil && p != nil && p.MXID != "" {
				return string(p.MXID), name
			}
			return "", name
		},
		Emoji: slackemoji.ToUnicode,
		SlackUser: func(mxid string) string {
			if remote, ok := s.net.core.GhostRemoteID(networkID, id.UserID(mxid)); ok {
				if team, user, ok := splitKey(string(remote)); ok && team == s.md.TeamID {
					return user
				}
				return ""
			}
			return s.net.slackAccount(s.md.TeamID, id.UserID(mxid))
		},
		SlackChannel: func(room string) string { return s.slackChannel(ctx, room) },
	}
}

// slackChannel is the Slack channel of a Matrix room linked by ID or by
// alias, "" when the room is no channel portal of this workspace. Clients
// link a room by its canonical alias when it has one, and a portal's is
// the bridge's own (aliasTemplate), which names the chat; a DM portal
// stands for a conversation of one receiver, so it is no channel others
// could open.
func (s *Session) slackChannel(ctx context.Context, room string) string {
	var chat bridge.ChatID
	switch {
	case strings.HasPrefix(room, "!"):
		p, err := s.net.core.PortalByRoom(ctx, id.RoomID(room))
		if err != nil || p == nil || p.Key.Receiver != "" {
			return ""
		}
		chat = p.Key.Chat
	case strings.HasPrefix(room, "#") && s.net.aliases != nil:
		remote, ok := s.net.aliases.RemoteID(id.RoomAlias(room))
		if !ok {
			return ""
		}
		chat = bridge.ChatID(remote)
	default:
		return ""
	}
	team, ch, ok := splitKey(string(chat))
	if !ok || team != s.md.TeamID || strings.HasPrefix(ch, "D") {
		return ""
	}
	return ch
}

// slackText converts a Matrix message body to mrkdwn. A message that
// mentions the room (m.mentions.room; for a client that sends no
// m.mentions, an "@room" in the text, as Matrix's legacy push rule reads
// it) mentions the channel on Slack: its "@room" becomes <!channel>, which
// leads the text when the room is mentioned without the word.
func (s *Session) slackText(ctx context.Context, c *event.MessageEventContent) string {
	room := c.Mentions == nil || c.Mentions.Room
	var text string
	if c.Format == event.FormatHTML && c.FormattedBody != "" {
		r := s.resolver(ctx)
		r.RoomMention = room
		text = mrkdwn.FromMatrix(c.FormattedBody, r)
	} else {
		text = mrkdwn.FromMatrixPlain(c.Body)
		if room {
			text = mrkdwn.RoomMentions(text)
		}
	}
	if c.Mentions != nil && c.Mentions.Room && !strings.Contains(text, "<!channel>") {
		text = strings.TrimSpace("<!channel> " + text)
	}
	return text
}

// HandleMatrixMessage posts a Matrix message as the user
// (https://api.slack.com/methods/chat.postMessage; m.emote through
// https://api.slack.com/methods/chat.meMessage; files through the external
// upload flow, https://api.slack.com/methods/files.getUploadURLExternal).
// A message in a Matrix thread goes into the Slack thread of its root. A
// Matrix reply is in the main timeline, so it goes into the thread of the
// message it answers and is also sent to the channel (reply_broadcast), as
// a Slack thread_broadcast comes to Matrix as a reply.
func (s *Session) HandleMatrixMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	if s.badState() {
		return nil, s.errLoginGone("")
	}
	ch, err := s.channelOf(msg.Portal)
	if err != nil {
		return nil, err
	}
	if s.archived(ch) {
		return nil, s.errArchived()
	}
	thread, broadcast := "", false
	switch {
	case msg.ThreadRoot != nil:
		thread = messageTS(msg.ThreadRoot.RemoteID)
	case msg.ReplyTo != nil:
		thread, broadcast = s.threadOf(ctx, ch, messageTS(msg.ReplyTo.RemoteID)), true
	}
	c := msg.Content
	switch c.MsgType {
	case event.MsgImage, event.MsgFile, event.MsgVideo, event.MsgAudio:
		return s.sendFile(ctx, ch, thread, msg)
	}
	text := s.slackText(ctx, c)
	var opts []slack.MsgOption
	switch {
	case s.app && c.MsgType == event.MsgEmote:
		// A relayed /me: chat.meMessage cannot carry another name.
		text = "_" + text + "_"
	case c.MsgType == event.MsgEmote:
		opts = append(opts, slack.MsgOptionMeMessage())
	}
	opts = append(opts, slack.MsgOptionText(text, false))
	if s.app {
		opts = append(opts, s.relayOptions(msg)...)
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
		if broadcast && c.MsgType != event.MsgEmote {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	_, ts, err := s.api.PostMessageContext(ctx, ch, opts...)
	if err != nil {
		return nil, s.checkAuth(ctx, fmt.Errorf("post message: %w", err))
	}
	return &bridge.MessageResult{ID: bridge.MessageID(ts), Timestamp: tsTime(ts)}, nil
}

// messageTS is the Slack ts of a bridged message: a file part's ID is
// "ts/FILEID".
func messageTS(remote bridge.MessageID) string {
	ts, _, _ := strings.Cut(string(remote), "/")
	return ts
}

// threadOf is the thread a reply to the message at ts goes into: that
// message's thread when it is in one already (a thread_broadcast, say),
// for Slack asks for a thread's parent, not one of its replies
// (https://api.slack.com/methods/chat.postMessage, "thread_ts"); else the
// message itself, which starts a thread. The message's thread is looked
// up with https://api.slack.com/methods/conversations.replies; if that
// fails, the reply goes under the message as it is.
func (s *Session) threadOf(ctx context.Context, ch, ts string) string {
	msgs, _, _, err := s.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: ts, Limit: 1})
	if err != nil || len(msgs) == 0 || msgs[0].ThreadTimestamp == "" {
		return ts
	}
	return msgs[0].ThreadTimestamp
}

// sendFile uploads a Matrix file with the three steps of
// https://api.slack.com/methods/files.getUploadURLExternal, by hand rather
// than with slack-go's UploadFileContext: the file ID must be known before
// the upload completes, because completing it shares the file in a message
// whose ts Slack does not return (the share is asynchronous; the answer of
// https://api.slack.com/methods/files.completeUploadExternal lists files,
// not messages). That message comes back over RTM (or in catch-up) as a
// file_share by the user carrying the file ID: the upload is stored until
// then (media.go), and the echo maps the Matrix event to the message's ts
// (RecordRemoteID) instead of being bridged back. A caption (a body that
// differs from the file name) becomes the message text.
func (s *Session) sendFile(ctx context.Context, ch, thread string, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	c := msg.Content
	name := firstOf(c.FileName, c.Body, "file")
	caption := ""
	if c.FileName != "" && c.Body != "" && c.Body != c.FileName {
		caption = s.slackText(ctx, c)
	}
	if s.app {
		// Files cannot be posted under another name: say whose it is.
		caption = strings.TrimSpace("*" + mrkdwn.FromMatrixPlain(firstOf(msg.SenderName, msg.Sender.MXID.Localpart())) + "* sent a file. " + caption)
	}
	if c.URL == "" {
		return nil, fmt.Errorf("%w: encrypted files cannot be sent to Slack", bridge.ErrNotSupported)
	}
	data, err := s.net.core.DownloadMedia(ctx, c.URL)
	if err != nil {
		return nil, err
	}
	up, err := s.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: name, FileSize: len(data)})
	if err != nil {
		return nil, s.checkAuth(ctx, fmt.Errorf("upload file: %w", err))
	}
	if err := s.net.addUpload(ctx, s.md.TeamID, up.FileID, msg); err != nil {
		return nil, err
	}
	err = s.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: up.UploadURL, Reader: bytes.NewReader(data), Filename: name})
	if err != nil {
		s.net.forgetUpload(ctx, s.md.TeamID, up.FileID)
		return nil, fmt.Errorf("upload file: %w", err)
	}
	_, err = s.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: up.FileID, Title: name}}, Channel: ch, ThreadTimestamp: thread, InitialComment: caption,
	})
	if err != nil {
		s.net.forgetUpload(ctx, s.md.TeamID, up.FileID)
		return nil, s.checkAuth(ctx, fmt.Errorf("upload file: %w", err))
	}
	return nil, nil
}

// HandleMatrixEdit sends m.replace as chat.update
// (https://api.slack.com/methods/chat.update).
func (s *Session) HandleMatrixEdit(ctx context.Context, edit *bridge.MatrixEdit) error {
	ch, err := s.channelOf(edit.Portal)
	if err != nil {
		return err
	}
	text := s.slackText(ctx, edit.Content)
	echo := editEcho(ch, string(edit.Target.RemoteID))
	s.addEcho(echo)
	_, _, stored, err := s.api.UpdateMessageContext(ctx, ch, string(edit.Target.RemoteID), slack.MsgOptionText(text, false))
	if err != nil {
		s.cancelEcho(echo) // nothing will echo
	} else {
		s.settleEcho(echo, stored, text)
	}
	return s.checkAuth(ctx, err)
}

// editEcho is the echo key of an edit of the message at ts. Slack's server
// formats what it is sent (https://api.slack.com/methods/chat.update,
// "parse": as a client's message, whose URLs the server links,
// https://api.slack.com/reference/surfaces/formatting#linking-urls), so the
// echo's text may differ from the text sent; chat.update answers with the
// text as stored, which message_changed shows as message.text
// (https://api.slack.com/events/message/message_changed). Until the
// answer comes, the next change of the message that shows different text
// is the echo; once it has come, only a change to the text sent or stored
// is. Either way the echo set holds it for a short while only, and a
// change that keeps the text (a link preview added) does not count
// (onEdit). So an edit made in Slack after a Matrix edit that Slack had
// nothing to change for (the same text again) is no echo.
func editEcho(channel, ts string) string {
	return "edit:" + channel + ":" + ts
}

// HandleMatrixRedaction deletes the message with chat.delete
// (https://api.slack.com/methods/chat.delete).
func (s *Session) HandleMatrixRedaction(ctx context.Context, r *bridge.MatrixRedaction) error {
	ch, err := s.channelOf(r.Portal)
	if err != nil {
		return err
	}
	ts := string(r.Target.RemoteID)
	if strings.Contains(ts, "/") {
		return fmt.Errorf("%w: files shared with a message are deleted with the message", bridge.ErrNotSupported)
	}
	s.addEcho("delete:" + ch + ":" + ts)
	_, _, err = s.api.DeleteMessageContext(ctx, ch, ts)
	return s.checkAuth(ctx, err)
}

// HandleMatrixReaction adds a reaction (https://api.slack.com/methods/reactions.add).
func (s *Session) HandleMatrixReaction(ctx context.Context, r *bridge.MatrixReaction) error {
	return s.react(ctx, r, true)
}

// HandleMatrixReactionRemove removes one (https://api.slack.com/methods/reactions.remove).
func (s *Session) HandleMatrixReactionRemove(ctx context.Context, r *bridge.MatrixReaction) error {
	return s.react(ctx, r, false)
}

func (s *Session) react(ctx context.Context, r *bridge.MatrixReaction, add bool) error {
	ch, err := s.channelOf(r.Portal)
	if err != nil {
		return err
	}
	name, ok := slackemoji.ReactionName(r.Key)
	if !ok {
		return fmt.Errorf("%w: Slack reactions must be emoji, not %q", bridge.ErrPermanent, r.Key)
	}
	ts := messageTS(r.Target.RemoteID)
	ref := slack.NewRefToMessage(ch, ts)
	// The RTM echo names the reaction by its Slack name, which may map back
	// to another key than the one sent (an emoji with or without its
	// variation selector): it is recognised here, not by the message map.
	s.addEcho(reactionEcho(add, ch, ts, name, s.md.UserID))
	if add {
		err = s.api.AddReactionContext(ctx, name, ref)
	} else {
		err = s.api.RemoveReactionContext(ctx, name, ref)
	}
	if err != nil {
		s.cancelEcho(reactionEcho(add, ch, ts, name, s.md.UserID)) // nothing will echo
	}
	if err != nil && (err.Error() == "already_reacted" || err.Error() == "no_reaction") {
		return nil // already as wanted: a retry after a crash
	}
	return s.checkAuth(ctx, err)
}

// HandleMatrixTyping sends the RTM typing indicator
// (https://api.slack.com/rtm, "Typing indicators"). Slack has no "stopped
// typing": the indicator fades by itself.
func (s *Session) HandleMatrixTyping(_ context.Context, portal *bridge.Portal, typing bool) error {
	if !typing {
		return nil
	}
	ch, err := s.channelOf(portal)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rtm := s.rtm
	s.mu.Unlock()
	if rtm == nil {
		return nil
	}
	// SendMessage blocks while slack-go's writer is busy; typing is not
	// worth holding the ephemeral path for.
	go rtm.SendMessage(rtm.NewTypingMessage(ch))
	return nil
}

// HandleMatrixPresence sets the user's Slack presence
// (https://api.slack.com/methods/users.setPresence): online is "auto"
// (Slack decides from activity), anything else "away".
func (s *Session) HandleMatrixPresence(ctx context.Context, presence event.Presence, _ string) error {
	p := "away"
	if presence == event.PresenceOnline {
		p = "auto"
	}
	return s.checkAuth(ctx, s.api.SetUserPresenceContext(ctx, p))
}

// StartDM opens a DM with a Slack user (https://api.slack.com/methods/conversations.open),
// through the user's login of that user's workspace.
func (s *Session) StartDM(ctx context.Context, with bridge.RemoteUserID) (bridge.ChatID, error) {
	team, user, ok := splitKey(string(with))
	if ok && team != s.md.TeamID {
		if other := s.net.session(s.user.MXID, team); other != nil {
			return other.StartDM(ctx, with)
		}
	}
	if !ok || team != s.md.TeamID {
		return "", fmt.Errorf("%w: you are not logged into the workspace of %s", bridge.ErrPermanent, with)
	}
	end := s.opened.begin()
	ch, _, _, err := s.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		end("")
		return "", s.checkAuth(ctx, err)
	}
	s.cache.mu.Lock()
	s.cache.convs[ch.ID] = &convInfo{ID: ch.ID, IM: true, Other: user}
	s.cache.mu.Unlock()
	end(ch.ID)
	return chatKey(s.md.TeamID, ch.ID), nil
}

// openedDMs are the DMs the user opened from Matrix. Their portal is the
// room the user made, which the core links when StartDM returns; the
// im_created that Slack sends meanwhile must not make another. That
// im_created may come before conversations.open answers (the event and
// the answer travel apart, and slack-go may be waiting out a rate limit),
// so while a call is out the RTM goroutine cannot tell whose DM a new one
// is. It does not wait either, which would hold up every other event of
// the login: it leaves the decision to a goroutine that waits for the
// calls out at the time (onIMCreated). mu is a leaf lock, never held
// across a call.
type openedDMs struct {
	mu  sync.Mutex
	ids map[string]bool
	// out are the conversations.open calls not yet answered, each closing
	// its channel once its DM, if any, is in ids.
	out map[chan struct{}]bool
}

// begin records a conversations.open going out; end records the DM it
// opened ("" if none) and must be called once it is answered.
func (o *openedDMs) begin() (end func(id string)) {
	done := make(chan struct{})
	o.mu.Lock()
	if o.out == nil {
		o.out = map[chan struct{}]bool{}
	}
	o.out[done] = true
	o.mu.Unlock()
	return func(id string) {
		o.mu.Lock()
		if id != "" {
			if o.ids == nil {
				o.ids = map[string]bool{}
			}
			o.ids[id] = true
		}
		delete(o.out, done)
		o.mu.Unlock()
		close(done)
	}
}

// check says whether StartDM opened the DM; if it cannot tell yet, pending
// are the calls out, after which it can.
func (o *openedDMs) check(id string) (byMatrix bool, pending []chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ids[id] {
		return true, nil
	}
	for ch := range o.out {
		pending = append(pending, ch)
	}
	return false, pending
}

// GetChatInfo describes a conversation when the core creates its portal.
func (s *Session) GetChatInfo(ctx context.Context, chat bridge.ChatID) (*bridge.ChatInfo, error) {
	team, ch, ok := splitKey(string(chat))
	if !ok || team != s.md.TeamID {
		return nil, fmt.Errorf("%w: %s is not in workspace %s", bridge.ErrPermanent, chat, s.md.TeamName)
	}
	c, err := s.conv(ctx, ch)
	if err != nil {
		return nil, err
	}
	return s.chatInfo(ctx, c)
}

// Revoke signs the token out of Slack (https://api.slack.com/methods/auth.revoke)
// for "logout slack revoke"; the logout itself follows.
func (s *Session) Revoke(ctx context.Context) error {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
	resp, err := s.api.SendAuthRevokeContext(ctx, "")
	if err == nil && !resp.Revoked {
		err = errors.New("Slack answered that the token was not revoked")
	}
	if err != nil {
		s.mu.Lock()
		s.revoked = false
		s.mu.Unlock()
		return fmt.Errorf("auth.revoke: %w", err)
	}
	return nil
}

// LogoutRemote is called when the user logs out of this workspace. It
// revokes nothing on Slack (the user may still use the token elsewhere);
// it forgets the account and the login's cursors, so a later login starts
// with a fresh sync rather than a catch-up over the gap.
func (s *Session) LogoutRemote(ctx context.Context) error {
	// Stop first: a live event handled after the cursors are dropped
	// would write one again.
	if err := s.Disconnect(ctx); err != nil {
		return err
	}
	s.net.forget(s)
	return s.net.dropCursors(ctx, s.user.MXID, s.md.TeamID)
}

// HandleMatrixMembership follows the user in and out of Slack channels:
// leaving a channel's portal leaves the channel
// (https://api.slack.com/methods/conversations.leave) when the user left
// it themselves (not when they declined its invite or someone kicked
// them), joining a public
// channel's portal joins it (https://api.slack.com/methods/conversations.join),
// and removing a person's ghost removes them from the channel
// (https://api.slack.com/methods/conversations.kick; Slack has no bans).
// DMs and group DMs cannot be left on Slack: their portals are left alone.
func (s *Session) HandleMatrixMembership(ctx context.Context, m *bridge.MatrixMembership) error {
	ch, err := s.channelOf(m.Portal)
	if err != nil {
		return err
	}
	left := m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan
	if m.Portal.Key.Receiver != "" {
		if m.Target != "" && left {
			return fmt.Errorf("%w: people cannot be removed from Slack direct messages", bridge.ErrNotSupported)
		}
		return nil
	}
	c, err := s.conv(ctx, ch)
	if err != nil {
		return err
	}
	switch {
	case m.Target != "" && left:
		team, user, ok := splitKey(string(m.Target))
		if !ok || team != s.md.TeamID {
			return fmt.Errorf("%w: %s is not in workspace %s", bridge.ErrPermanent, m.Target, s.md.TeamName)
		}
		err = s.api.KickUserFromConversationContext(ctx, ch, user)
		if err != nil && slackCode(err) == "not_in_channel" {
			err = nil // gone already: nothing to do
		} else if err != nil {
			if why := kickRefusal(slackCode(err), c.Name); why != "" {
				return fmt.Errorf("%w: %s", bridge.ErrRefused, why)
			}
		}
	case m.Target != "":
		return nil
	case m.Membership == event.MembershipJoin:
		members, err := s.members(ctx, c)
		if err != nil || slices.Contains(members, s.md.UserID) {
			return err
		}
		_, _, _, err = s.api.JoinConversationContext(ctx, ch)
	case left && !ownLeave(m):
		return nil
	case left:
		_, err = s.api.LeaveConversationContext(ctx, ch)
		if err != nil && slackCode(err) == "cant_leave_general" {
			return &permanentError{msg: "you left the room, but Slack does not let anyone leave #" + c.Name + ": you are still in it there"}
		}
	default:
		return nil
	}
	if err != nil {
		return s.checkAuth(ctx, fmt.Errorf("membership: %w", err))
	}
	s.cache.mu.Lock()
	c.Members = nil // fetched again when next needed
	s.cache.mu.Unlock()
	return nil
}

// ownLeave tells the user leaving a portal apart from what only looks
// like it: declining the invite the bridge sent (they are in the channel,
// and did not want its room) and a kick or ban by another Matrix user
// (who has no say over the user's Slack account). Only the user's own
// leave is done on Slack with their token.
func ownLeave(m *bridge.MatrixMembership) bool {
	if m.Previous == event.MembershipInvite {
		return false
	}
	return m.Event == nil || m.Sender == nil || m.Event.Sender == m.Sender.MXID
}

// kickRefusal explains a conversations.kick error that is Slack saying no
// (https://api.slack.com/methods/conversations.kick, "Errors"), so the core
// brings the ghost back instead of retrying; "" for any other code.
func kickRefusal(code, channel string) string {
	switch code {
	case "cant_kick_from_general":
		return "Slack does not let anyone be removed from #" + channel
	case "cant_kick_from_last_channel":
		return "Slack does not let anyone be removed from the last channel they are in"
	case "cant_kick_self":
		return "Slack does not let you remove yourself; leave the room instead"
	case "restricted_action":
		return "a setting of your Slack workspace does not let you remove people from #" + channel
	case "not_supported", "method_not_supported_for_channel_type":
		return "Slack does not support removing people from #" + channel
	}
	return ""
}
