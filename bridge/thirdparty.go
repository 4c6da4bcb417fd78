package bridge

import (
	"context"
	"net/url"

	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/appservice"
)

var _ appservice.ThirdPartyHandler = (*Bridge)(nil)

// GetProtocol describes a protocol from the registration: its networks are
// the instances; locations are (network, chat) and users (network, user).
func (br *Bridge) GetProtocol(_ context.Context, protocol string) (*appservice.Protocol, error) {
	var p *appservice.Protocol
	for _, nid := range br.netOrder {
		info := br.networks[nid].info
		if info.Protocol != protocol || protocol == "" {
			continue
		}
		if p == nil {
			p = &appservice.Protocol{
				UserFields:     []string{"network", "user"},
				LocationFields: []string{"network", "chat"},
				FieldTypes: map[string]appservice.FieldType{
					"network": {Regexp: `[^\s]+`, Placeholder: "network name"},
					"user":    {Regexp: `.+`, Placeholder: "remote user"},
					"chat":    {Regexp: `.+`, Placeholder: "remote chat"},
				},
			}
		}
		p.Instances = append(p.Instances, appservice.ProtocolInstance{
			Desc:      info.DisplayName,
			Fields:    map[string]string{"network": string(nid)},
			NetworkID: string(nid),
		})
	}
	return p, nil
}

func (br *Bridge) protocolNetwork(protocol string, fields url.Values) (*networkEntry, bool) {
	ne, ok := br.networks[NetworkID(fields.Get("network"))]
	if !ok || ne.info.Protocol != protocol || protocol == "" {
		return nil, false
	}
	return ne, true
}

// GetLocations answers the alias of a chat's portal; the alias works even
// before the portal exists, since joining it creates the portal.
func (br *Bridge) GetLocations(_ context.Context, protocol string, fields url.Values) ([]appservice.Location, error) {
	ne, ok := br.protocolNetwork(protocol, fields)
	chat := fields.Get("chat")
	if !ok || ne.aliases == nil || chat == "" {
		return nil, nil
	}
	alias, err := ne.aliases.TryAlias(chat)
	if err != nil {
		return nil, nil
	}
	return []appservice.Location{{Alias: alias, Protocol: protocol, Fields: map[string]string{"network": string(ne.info.ID), "chat": chat}}}, nil
}

// GetUsers answers the ghost of a remote user.
func (br *Bridge) GetUsers(_ context.Context, protocol string, fields url.Values) ([]appservice.ThirdPartyUser, error) {
	ne, ok := br.protocolNetwork(protocol, fields)
	user := fields.Get("user")
	if !ok || user == "" {
		return nil, nil
	}
	mxid, err := ne.ghosts.TryMXID(user)
	if err != nil {
		return nil, nil
	}
	return []appservice.ThirdPartyUser{{UserID: mxid, Protocol: protocol, Fields: map[string]string{"network": string(ne.info.ID), "user": user}}}, nil
}

// GetLocationsByAlias is the reverse of GetLocations.
func (br *Bridge) GetLocationsByAlias(_ context.Context, alias id.RoomAlias) ([]appservice.Location, error) {
	for _, nid := range br.netOrder {
		ne := br.networks[nid]
		if ne.aliases == nil || ne.info.Protocol == "" {
			continue
		}
		if chat, ok := ne.aliases.RemoteID(alias); ok {
			return []appservice.Location{{Alias: alias, Protocol: ne.info.Protocol, Fields: map[string]string{"network": string(nid), "chat": chat}}}, nil
		}
	}
	return nil, nil
}

// GetUsersByID is the reverse of GetUsers.
func (br *Bridge) GetUsersByID(_ context.Context, user id.UserID) ([]appservice.ThirdPartyUser, error) {
	nid, remote, ok := br.ghostOf(user)
	if !ok || br.networks[nid].info.Protocol == "" {
		return nil, nil
	}
	return []appservice.ThirdPartyUser{{UserID: user, Protocol: br.networks[nid].info.Protocol, Fields: map[string]string{"network": string(nid), "user": string(remote)}}}, nil
}
