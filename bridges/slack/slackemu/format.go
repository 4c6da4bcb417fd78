package slackemu

import "strings"

// linkURLs does the server's URL detection on the text of a posted or
// updated message: a bare http(s) URL is stored and broadcast as <url>.
// Slack documents it for chat.postMessage's default parsing ("we will
// still linkify any non-linked URLs present in your message", IN "Foo
// bar http://test.com", OUT "Foo bar <http://test.com>", in Slack's
// archived https://github.com/slackhq/slack-api-docs page_formatting.md,
// "Parsing modes"; today's https://api.slack.com/reference/surfaces/formatting#linking-urls),
// and chat.update parses as a client does (https://api.slack.com/methods/chat.update,
// "parse"). parse=none leaves the text alone. Text inside <…> is a
// reference already; trailing punctuation stays outside the link.
func linkURLs(text, parse string) string {
	if parse == "none" {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		switch {
		case text[i] == '<':
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				b.WriteString(text[i:])
				return b.String()
			}
			b.WriteString(text[i : i+end+1])
			i += end + 1
		case (i == 0 || isSpace(text[i-1])) && (strings.HasPrefix(text[i:], "http://") || strings.HasPrefix(text[i:], "https://")):
			end := i
			for end < len(text) && !isSpace(text[end]) && text[end] != '<' {
				end++
			}
			url := strings.TrimRight(text[i:end], ".,;:!?)")
			b.WriteString("<" + url + ">" + text[i+len(url):end])
			i = end
		default:
			b.WriteByte(text[i])
			i++
		}
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' }
