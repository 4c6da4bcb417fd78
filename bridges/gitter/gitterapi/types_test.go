package gitterapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// docMessage is the first message of the "List Messages" example in
// gitterHQ/docs 04.Messages-resource.md, as printed there.
const docMessage = `{
  "id": "53316dc47bfc1a000000000f",
  "text": "Hi @suprememoocow !",
  "html": "Hi <span data-link-type=\"mention\" data-screen-name=\"suprememoocow\" class=\"mention\">@suprememoocow</span> !",
  "sent": "2014-03-25T11:51:32.289Z",
  "editedAt": null,
  "fromUser": {
    "id": "53307734c3599d1de448e192",
    "username": "malditogeek",
    "displayName": "Mauro Pompilio",
    "url": "/malditogeek",
    "avatarUrlSmall": "https://avatars.githubusercontent.com/u/14751?",
    "avatarUrlMedium": "https://avatars.githubusercontent.com/u/14751?"
  },
  "unread": false,
  "readBy": 0,
  "urls": [],
  "mentions": [{
    "screenName": "suprememoocow",
    "userId": "53307831c3599d1de448e19a"
  }],
  "issues": [],
  "meta": {},
  "v": 1
}`

// docRooms is the one-to-one and a channel room of the "List rooms"
// example in 03.Rooms-resource.md.
const docRooms = `[{
  "id": "53307860c3599d1de448e19d",
  "name": "Andrew Newdigate",
  "topic": "",
  "oneToOne": true,
  "user": {
    "id": "53307831c3599d1de448e19a",
    "username": "suprememoocow",
    "displayName": "Andrew Newdigate",
    "url": "/suprememoocow",
    "avatarUrlSmall": "https://avatars.githubusercontent.com/u/594566?",
    "avatarUrlMedium": "https://avatars.githubusercontent.com/u/594566?"
  },
  "unreadItems": 0,
  "mentions": 0,
  "lurk": false,
  "url": "/suprememoocow",
  "githubType": "ONETOONE"
}, {
  "id": "5330780dc3599d1de448e198",
  "name": "gitterHQ/devops",
  "topic": "",
  "uri": "gitterHQ/devops",
  "oneToOne": false,
  "userCount": 2,
  "unreadItems": 0,
  "mentions": 0,
  "lastAccessTime": "2014-03-24T18:23:10.512Z",
  "lurk": false,
  "url": "/gitterHQ/devops",
  "githubType": "ORG_CHANNEL",
  "security": "INHERITED",
  "v": 1
}]`

func TestDocExamplesDecode(t *testing.T) {
	t.Run("a message from the docs decodes field for field", func(t *testing.T) {
		var m gitterapi.Message
		require.NoError(t, json.Unmarshal([]byte(docMessage), &m))
		assert.Equal(t, "53316dc47bfc1a000000000f", m.ID)
		assert.Equal(t, "Hi @suprememoocow !", m.Text)
		assert.Equal(t, time.Date(2014, 3, 25, 11, 51, 32, 289e6, time.UTC), m.Sent.UTC())
		assert.True(t, m.EditedAt.IsZero(), "editedAt null means not edited")
		assert.Equal(t, "malditogeek", m.FromUser.Username)
		assert.Equal(t, "Mauro Pompilio", m.FromUser.DisplayName)
		assert.Equal(t, []gitterapi.Mention{{ScreenName: "suprememoocow", UserID: "53307831c3599d1de448e19a"}}, m.Mentions)
		assert.False(t, m.Deleted())
	})
	t.Run("rooms from the docs decode with one-to-one peers", func(t *testing.T) {
		var rooms []gitterapi.Room
		require.NoError(t, json.Unmarshal([]byte(docRooms), &rooms))
		require.Len(t, rooms, 2)
		assert.True(t, rooms[0].OneToOne)
		require.NotNil(t, rooms[0].User)
		assert.Equal(t, "suprememoocow", rooms[0].User.Username)
		assert.Equal(t, gitterapi.RoomOneToOne, rooms[0].GithubType)
		assert.Equal(t, "gitterHQ/devops", rooms[1].URI)
		assert.Equal(t, gitterapi.RoomOrgChannel, rooms[1].GithubType)
		assert.Equal(t, 2, rooms[1].UserCount)
		assert.False(t, rooms[1].LastAccessTime.IsZero())
	})
}

func TestTime(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want time.Time
	}{
		{"milliseconds as in the docs parse", `"2014-03-24T15:41:18.991Z"`, time.Date(2014, 3, 24, 15, 41, 18, 991e6, time.UTC)},
		{"whole seconds parse", `"2014-03-24T15:41:18Z"`, time.Date(2014, 3, 24, 15, 41, 18, 0, time.UTC)},
		{"null is the zero time", `null`, time.Time{}},
		{"an empty string is the zero time", `""`, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got gitterapi.Time
			require.NoError(t, json.Unmarshal([]byte(tc.in), &got))
			assert.True(t, tc.want.Equal(got.Time), "got %v", got.Time)
		})
	}
	t.Run("times encode with milliseconds in UTC like the docs", func(t *testing.T) {
		b, err := json.Marshal(gitterapi.Time{Time: time.Date(2014, 3, 24, 16, 41, 18, 991e6, time.FixedZone("CET", 3600))})
		require.NoError(t, err)
		assert.Equal(t, `"2014-03-24T15:41:18.991Z"`, string(b))
	})
	t.Run("the zero time encodes as null", func(t *testing.T) {
		b, err := json.Marshal(gitterapi.Time{})
		require.NoError(t, err)
		assert.Equal(t, "null", string(b))
	})
	t.Run("garbage is an error", func(t *testing.T) {
		var got gitterapi.Time
		assert.Error(t, json.Unmarshal([]byte(`"yesterday"`), &got))
	})
}
