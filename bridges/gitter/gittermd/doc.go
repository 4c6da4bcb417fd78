// Package gittermd converts message text between Gitter and Matrix.
//
// Gitter messages are GitHub-flavoured markdown (tables, strikethrough,
// autolinks, task lists; a single newline is a line break) with @username
// mentions. Matrix messages carry a plain body and optional HTML, where
// mentions are links to https://matrix.to/#/@user ("pills").
//
// ToMatrix renders Gitter markdown to Matrix HTML with goldmark (the
// renderer mautrix uses), turning mentions the caller can resolve into
// pills; raw HTML typed on Gitter is shown as text, never passed through.
// ToGitter turns Matrix HTML back into markdown with mautrix's HTML parser,
// turning pills of bridged Gitter users back into @username and escaping
// markdown characters in plain text so they are not reinterpreted.
//
// The package does no I/O and knows nothing of the bridge: callers pass
// functions that resolve users. It is safe for concurrent use.
package gittermd
