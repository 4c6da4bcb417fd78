package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// App mode (networks.slack.app): a Slack app of one workspace, with a bot
// token for the Web API and an app-level token for Socket Mode
// (https://api.slack.com/apis/connections/socket). Its bot is a Session
// like a user's login, with no Matrix user behind it: it syncs and
// catches up the channels the bot is in and turns their Events API
// payloads into remote events through the same code as RTM, so channels
// nobody has logged into are bridged too. It skips DMs (a DM portal needs
// a receiver). It posts for Matrix users without a login (relay) with
// chat.postMessage's username and icon_url
// (https://api.slack.com/methods/chat.postMessage#authorship).
//
// Where a logged-in user shares a channel with the bot, both see each
// event; the core's message map drops the second copy of a message or a
// reaction, and edits reuse their transaction ID.

var (
	_ bridge.RelayHandler = (*Network)(nil)
	_ bridge.ChatResolver = (*Network)(nil)
)

// errNotBridged marks conversations a session leaves alone (DMs of the
// app's bot); events in them are dropped without a complaint.
var errNotBridged = errors.New("conversation not bridged by this session")

// appSession returns the app's session once the bot's identity is known,
// nil before (or without app mode).
func (n *Network) appSession() *Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.app
}

// startApp checks the bot token with auth.test and connects the app. A
// token Slack refuses fails the start (the config is wrong); Slack being
// unreachable does not: the check is retried in the background.
func (n *Network) startApp(ctx context.Context) error {
	if !n.cfg.App.enabled() {
		return nil
	}
	api := slack.New(string(n.cfg.App.BotToken),
		slack.OptionAPIURL(n.cfg.APIURL),
		slack.OptionAppLevelToken(string(n.cfg.App.AppToken)),
		slack.OptionHTTPClient(newHTTPDoer("", n.cfg.MaxRetryAfter)),
	)
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopApp = cancel
	auth, err := api.AuthTestContext(ctx)
	switch {
	case err == nil:
		n.connectApp(actx, api, auth)
	case authError(err):
		cancel()
		return fmt.Errorf("networks.slack.app.bot_token: Slack refused it (%s)", safeError(err))
	default:
		zerolog.Ctx(ctx).Warn().Str("error", safeError(err)).Msg("Slack app not reachable yet, retrying")
		retried := make(chan struct{})
		n.appRetried = retried
		go func() {
			defer close(retried)
			n.retryApp(actx, api)
		}()
	}
	return nil
}

// retryApp checks the bot token until Slack answers, with backoff.
func (n *Network) retryApp(ctx context.Context, api *slack.Client) {
	wait := time.Second
	for {
		if err := sleepCtx(ctx, wait); err != nil {
			return
		}
		auth, err := api.AuthTestContext(ctx)
		if ctx.Err() != nil {
			return // stopped meanwhile
		}
		if err == nil {
			n.connectApp(ctx, api, auth)
			return
		}
		if authError(err) {
			zerolog.Ctx(ctx).Error().Str("error", safeError(err)).Msg("Slack refused the app's bot token; app mode is off")
			return
		}
		wait = min(2*wait, time.Minute)
	}
}

func (n *Network) connectApp(ctx context.Context, api *slack.Client, auth *slack.AuthTestResponse) {
	md := metadata{Credentials: Credentials{Token: string(n.cfg.App.BotToken)},
		TeamID: auth.TeamID, TeamName: auth.Team, UserID: auth.UserID, UserName: auth.User}
	s := newSession(n, &bridge.User{}, nil, md)
	s.app, s.api = true, api
	n.mu.Lock()
	n.app = s
	n.mu.Unlock()
	zerolog.Ctx(ctx).Info().Str("team_id", auth.TeamID).Str("bot_user", auth.UserID).Msg("Slack app mode on")
	s.Connect(ctx)
}

// isAppBot says whether a Slack user is the bot of this bridge's app, which
// gets no ghost: what it posts is relayed Matrix users' messages.
func (n *Network) isAppBot(team, user string) bool {
	app := n.appSession()
	return app != nil && app.md.TeamID == team && app.md.UserID == user
}

// HandleRelayMessage posts for a Matrix user without a login through the
// app's bot, under the user's name (msg.SenderName) and the configured
// icon.
func (n *Network) HandleRelayMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	app := n.appSession()
	if app == nil {
		return nil, errors.New("the Slack app is not connected yet")
	}
	if !app.InChat(msg.Portal.Key.Chat) || msg.Portal.Key.Receiver != "" {
		return nil, fmt.Errorf("%w: the Slack app of this bridge is not in this chat", bridge.ErrPermanent)
	}
	return app.HandleMatrixMessage(ctx, msg)
}

// relayOptions are the authorship options of a relayed message.
func (s *Session) relayOptions(msg *bridge.MatrixMessage) []slack.MsgOption {
	name := firstOf(msg.SenderName, msg.Sender.MXID.Localpart(), "Matrix user")
	opts := []slack.MsgOption{slack.MsgOptionUsername(name)}
	if tmpl := s.net.cfg.App.IconURL; tmpl != "" {
		icon := strings.NewReplacer("{localpart}", msg.Sender.MXID.Localpart(), "{mxid}", msg.Sender.MXID.String()).Replace(tmpl)
		opts = append(opts, slack.MsgOptionIconURL(icon))
	}
	return opts
}

// ResolveChat creates a portal on demand when someone joins an alias of a
// channel that has none yet: the app's bot must be in it, or else a login
// of the workspace whose user is.
func (n *Network) ResolveChat(ctx context.Context, chat string) (bridge.ChatID, *bridge.ChatInfo, error) {
	team, ch, ok := splitKey(chat)
	if !ok {
		return "", nil, bridge.ErrPortalNotFound
	}
	s := n.appSession()
	if s == nil || s.md.TeamID != team {
		s = n.teamSession(team)
	}
	if s == nil {
		return "", nil, bridge.ErrPortalNotFound
	}
	c, err := s.conv(ctx, ch)
	if err != nil || c.isDM() {
		return "", nil, bridge.ErrPortalNotFound
	}
	members, err := s.members(ctx, c)
	if err != nil {
		return "", nil, err
	}
	if !slices.Contains(members, s.md.UserID) {
		return "", nil, bridge.ErrPortalNotFound
	}
	info, err := s.chatInfo(ctx, c)
	if err != nil {
		return "", nil, err
	}
	return chatKey(team, ch), info, nil
}

// runSocketMode owns the app's Socket Mode connection; slack-go reconnects
// by itself. Envelopes are acknowledged as they arrive (Slack redelivers
// what is not acknowledged within seconds) and handled in order by this
// goroutine, after the sync and catch-up of every (re)connection.
func (s *Session) runSocketMode(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	smc := socketmode.New(s.api)
	work := make(chan socketmode.Event, 4096)
	ended := make(chan error, 1)
	s.spawn(func() { ended <- smc.RunContext(ctx) })
	s.spawn(func() {
		// The acknowledger: it never waits on the bridge.
		for {
			select {
			case evt := <-smc.Events:
				if evt.Type == socketmode.EventTypeEventsAPI && evt.Request != nil {
					// With ctx: an acknowledgement waits for the connection,
					// which is gone for good once the loop ends.
					if err := smc.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
						log.Debug().Str("error", safeError(err)).Msg("Failed to acknowledge Slack envelope")
					}
				}
				select {
				case work <- evt:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
	s.setState(ctx, bridge.StateConnecting, "connecting")
	flush := time.NewTicker(cursorFlush)
	defer flush.Stop()
	defer s.flushCursors(ctx)
	for {
		select {
		case <-flush.C:
			s.flushCursors(ctx)
		case evt := <-work:
			s.handleSocketEvent(ctx, evt)
		case f := <-s.resume:
			f(ctx)
		case err := <-ended:
			if err != nil && !errors.Is(err, context.Canceled) {
				if authError(err) {
					s.setState(ctx, bridge.StateBadCredential, "Slack refused the app token: "+safeError(err))
				} else {
					s.setState(ctx, bridge.StateDisconnected, "socket mode ended: "+safeError(err))
				}
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *Session) handleSocketEvent(ctx context.Context, evt socketmode.Event) {
	log := zerolog.Ctx(ctx)
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.setState(ctx, bridge.StateConnecting, "connecting")
	case socketmode.EventTypeConnectionError:
		s.setState(ctx, bridge.StateDisconnected, "reconnecting")
	case socketmode.EventTypeInvalidAuth:
		s.setState(ctx, bridge.StateBadCredential, "Slack refused the app token")
	case socketmode.EventTypeHello:
		log.Info().Str("team_id", s.md.TeamID).Msg("Slack app connected over Socket Mode")
		s.setState(ctx, bridge.StateConnected, "")
		s.syncAndCatchUp(ctx)
	case socketmode.EventTypeEventsAPI:
		if evt.Request == nil {
			return
		}
		data, kind, err := s.decodeCallback(evt.Request.Payload)
		if err != nil {
			log.Debug().Str("error", err.Error()).Msg("Ignoring Slack Events API payload")
			return
		}
		if err := s.handleSlackEvent(ctx, data); err != nil && !errors.Is(err, errNotBridged) {
			log.Err(err).Str("event", kind).Msg("Failed to handle Slack event")
		}
	}
}

// decodeCallback reads an Events API event_callback
// (https://api.slack.com/apis/connections/events-api#callback-field) into
// the RTM event type of the same name: the inner event has the shape of
// the RTM event, so handleSlackEvent serves both.
func (s *Session) decodeCallback(payload json.RawMessage) (any, string, error) {
	var cb struct {
		Type   string          `json:"type"`
		TeamID string          `json:"team_id"`
		Event  json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(payload, &cb); err != nil {
		return nil, "", err
	}
	if cb.Type != "event_callback" || cb.TeamID != s.md.TeamID {
		return nil, "", fmt.Errorf("not an event_callback of team %s", s.md.TeamID)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(cb.Event, &head); err != nil {
		return nil, "", err
	}
	proto, ok := slack.EventMapping[head.Type]
	if !ok {
		return nil, head.Type, fmt.Errorf("unknown event type %q", head.Type)
	}
	v := reflect.New(reflect.TypeOf(proto)).Interface()
	if err := json.Unmarshal(cb.Event, v); err != nil {
		return nil, head.Type, err
	}
	return v, head.Type, nil
}
