// Package ircproto is the IRC wire protocol as the bridge speaks it: lines
// with IRCv3 message tags, sources, CTCP, RPL_ISUPPORT state and
// casemapping, channel mode and NAMES parsing, capability negotiation with
// SASL, server-time, formatting codes and splitting long text into lines
// that fit.
//
// It is a leaf package: it imports only the standard library and does no
// I/O, so every rule about the protocol can be tested without a server.
// Types here hold no locks; whoever owns the connection owns the values
// (ISupport, CapNegotiator) and hands out copies if another goroutine
// needs them.
//
// Two rules run through the package. What comes from the server is parsed
// tolerantly (odd spacing, missing trailing colon, unknown tokens) but
// never in a way that lets one line become two. What we build is checked
// strictly: Message.Bytes refuses anything that could not be sent as
// exactly one line, rather than guessing how to repair it.
//
// Text is not assumed to be UTF-8 on the way in (IRC has no charset);
// decoding is the caller's job. Text we split and send is made valid UTF-8.
package ircproto
