package slack

import (
	"context"
	"fmt"

	"github.com/isthmus-bridge/isthmus/bridge"
)

var _ bridge.SpaceDescriber = (*Session)(nil)

// DescribeSpace names the login's Matrix space (bridge.spaces) after the
// workspace, with its icon (team.info), so a user of several workspaces
// tells them apart as in the Slack app.
func (s *Session) DescribeSpace(ctx context.Context) (*bridge.ChatInfo, error) {
	team, err := s.api.GetTeamInfoContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("team.info: %w", s.checkAuth(ctx, err))
	}
	name := team.Name
	info := &bridge.ChatInfo{Name: &name}
	if def, _ := team.Icon["image_default"].(bool); !def {
		if url, _ := team.Icon["image_132"].(string); url != "" {
			info.AvatarID, info.AvatarURL = url, url
		}
	}
	return info, nil
}
