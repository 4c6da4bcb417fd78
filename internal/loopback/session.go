package loopback

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
)

// Session acts on the remote network as one logged-in user.
type Session struct {
	net   *Network
	login *bridge.Login

	mu    sync.Mutex
	state bridge.SessionState
}

func (s *Session) Connect(ctx context.Context) {
	s.setState(ctx, bridge.SessionState{Kind: bridge.StateConnected})
}

func (s *Session) Disconnect(ctx context.Context) error {
	s.setState(ctx, bridge.SessionState{Kind: bridge.StateDisconnected})
	return nil
}

func (s *Session) setState(ctx context.Context, st bridge.SessionState) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	if s.net.br != nil {
		s.net.br.ReportState(ctx, s.login, st)
	}
}

func (s *Session) State() bridge.SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Session) me() string { return string(s.login.RemoteID) }

func (s *Session) HandleMatrixMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	kind := "message"
	text := msg.Content.Body
	if msg.Content.MsgType == event.MsgEmote {
		text = "/me " + text
	}
	if msg.Content.URL != "" {
		// The loopback network has no file store: it gets a description of
		// what the core downloaded for it.
		data, err := s.net.br.DownloadMedia(ctx, msg.Content.URL)
		if err != nil {
			return nil, err
		}
		text = fmt.Sprintf("file %s (%d bytes)", msg.Content.Body, len(data))
	}
	ev := remote.Event{Kind: kind, Chat: string(msg.Portal.Key.Chat), Sender: s.me(), Text: text, DM: msg.Portal.IsDM,
		// The Matrix event ID makes a retry after a crash harmless.
		Txn: string(msg.Event.ID)}
	out, err := s.net.act(ctx, ev)
	if err != nil {
		return nil, err
	}
	return &bridge.MessageResult{ID: bridge.MessageID(out.ID), Timestamp: out.Time}, nil
}

func (s *Session) HandleMatrixEdit(ctx context.Context, edit *bridge.MatrixEdit) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "edit", Chat: string(edit.Portal.Key.Chat), Sender: s.me(),
		Target: string(edit.Target.RemoteID), Text: edit.Content.Body, Txn: string(edit.Event.ID)})
	return err
}

func (s *Session) HandleMatrixRedaction(ctx context.Context, r *bridge.MatrixRedaction) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "delete", Chat: string(r.Portal.Key.Chat), Sender: s.me(), Target: string(r.Target.RemoteID)})
	return err
}

func (s *Session) HandleMatrixReaction(ctx context.Context, r *bridge.MatrixReaction) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "reaction", Chat: string(r.Portal.Key.Chat), Sender: s.me(), Target: string(r.Target.RemoteID), Reaction: r.Key, Txn: string(r.Event.ID)})
	return err
}

func (s *Session) HandleMatrixReactionRemove(ctx context.Context, r *bridge.MatrixReaction) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "reaction_remove", Chat: string(r.Portal.Key.Chat), Sender: s.me(), Target: string(r.Target.RemoteID), Reaction: r.Key})
	return err
}

func (s *Session) HandleMatrixTyping(ctx context.Context, portal *bridge.Portal, typing bool) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "typing", Chat: string(portal.Key.Chat), Sender: s.me(), Typing: typing})
	return err
}

func (s *Session) HandleMatrixPresence(ctx context.Context, presence event.Presence, status string) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "presence", Sender: s.me(), Presence: string(presence), Text: status})
	return err
}

func (s *Session) HandleMatrixMembership(ctx context.Context, m *bridge.MatrixMembership) error {
	ev := remote.Event{Chat: string(m.Portal.Key.Chat), Sender: s.me(), Member: string(m.Target)}
	switch {
	case m.Target == "" && m.Membership == event.MembershipJoin:
		ev.Kind = "join"
	case m.Target == "" && (m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan):
		ev.Kind = "leave"
	case m.Target != "" && m.Membership == event.MembershipLeave:
		ev.Kind = "kick"
	case m.Target != "" && m.Membership == event.MembershipBan:
		ev.Kind = "ban"
	default:
		return nil
	}
	if m.Target != "" {
		if op, err := s.isOp(ctx, m.Portal.Key.Chat); err != nil {
			return err
		} else if !op {
			return fmt.Errorf("%w: only operators of %s may kick or ban", bridge.ErrRefused, m.Portal.Key.Chat)
		}
	}
	_, err := s.net.act(ctx, ev)
	return err
}

func (s *Session) StartDM(_ context.Context, with bridge.RemoteUserID) (bridge.ChatID, error) {
	return bridge.ChatID(dmChat(s.me(), string(with))), nil
}

func (s *Session) HandleMatrixReadReceipt(ctx context.Context, portal *bridge.Portal, upTo *bridge.Message) error {
	_, err := s.net.act(ctx, remote.Event{Kind: "read_marker", Chat: string(portal.Key.Chat), Sender: s.me(), Target: string(upTo.RemoteID)})
	return err
}

// isOp asks the remote whether the session's user is an operator of a chat.
func (s *Session) isOp(ctx context.Context, chat bridge.ChatID) (bool, error) {
	var out struct{ Op bool }
	err := s.net.call(ctx, http.MethodGet, "/op?chat="+url.QueryEscape(string(chat))+"&user="+url.QueryEscape(s.me()), nil, &out)
	return out.Op, err
}

func (s *Session) HandleMatrixTopic(ctx context.Context, portal *bridge.Portal, _ *bridge.User, topic string) error {
	if op, err := s.isOp(ctx, portal.Key.Chat); err != nil {
		return err
	} else if !op {
		return fmt.Errorf("%w: only operators of %s may change its topic", bridge.ErrRefused, portal.Key.Chat)
	}
	_, err := s.net.act(ctx, remote.Event{Kind: "chat_info", Chat: string(portal.Key.Chat), Sender: s.me(), Text: topic})
	return err
}

func (s *Session) HandleMatrixPowerLevels(ctx context.Context, portal *bridge.Portal, _ *bridge.User, changes map[bridge.RemoteUserID]int) error {
	if op, err := s.isOp(ctx, portal.Key.Chat); err != nil {
		return err
	} else if !op {
		return fmt.Errorf("%w: only operators of %s may give or take ops", bridge.ErrRefused, portal.Key.Chat)
	}
	for user, level := range changes {
		mode := "-o"
		if level >= 50 {
			mode = "+o"
		}
		if _, err := s.net.act(ctx, remote.Event{Kind: "mode", Chat: string(portal.Key.Chat), Sender: s.me(), Member: string(user), Mode: mode}); err != nil {
			return err
		}
	}
	return nil
}
