// Package mrkdwn converts Slack message text ("mrkdwn") to Matrix HTML and
// plain text, and Matrix HTML back to mrkdwn.
//
// Slack's format is described at
// https://api.slack.com/reference/surfaces/formatting: *bold*, _italic_,
// ~strike~, `code`, ```preformatted```, ">" quotes at the start of a line,
// and references in angle brackets: <https://url|label>, <@U123> (a
// user), <#C123|name> (a channel), <!here>, <!channel>, <!everyone> and
// <!subteam^ID|@name>. The text arrives with &, < and > escaped as &amp;,
// &lt; and &gt;, so a bare "<" always starts a reference. Slack has no list
// syntax: lines starting with "•", "-" or "1." are shown as lists in
// Matrix, and Matrix lists are written back as such lines.
//
// A message is more than its text: MessageToMatrix also converts its Block
// Kit blocks (rich text with styles, links, mentions, emoji, lists, quotes
// and code; sections, headers, context) and its attachments, and shows the
// blocks instead of the text when it understood them all, as Slack
// clients do; otherwise the text, which Slack requires as their fallback.
//
// The package is a leaf: it knows nothing about the bridge. Who a <@U123>
// is on Matrix, and which Slack user a Matrix pill points at, come from the
// Resolver callbacks the adapter passes in.
//
// The converters never fail: text they cannot make sense of is kept as
// text, escaped for where it goes, because a message shown slightly wrong
// is better than a message lost.
package mrkdwn
