package gittermd

import (
	"bytes"
	"html"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/format/mdext"
	"maunium.net/go/mautrix/id"
)

// Pill is the Matrix side of a mentioned Gitter user.
type Pill struct {
	MXID id.UserID
	Name string // shown as the pill's text
}

// MentionResolver maps a Gitter screen name (without "@") to a Matrix
// user. It returns false for names that are not users; their text stays.
type MentionResolver func(screenName string) (Pill, bool)

// Matrix is a message converted for Matrix.
type Matrix struct {
	Body string
	// HTML is "" when the text has no formatting worth sending.
	HTML     string
	Mentions []id.UserID
}

var (
	kindMention = ast.NewNodeKind("GitterMention")
	resolverKey = parser.NewContextKey()
	mentionsKey = parser.NewContextKey()
)

// markdown is built once: goldmark instances are safe for concurrent
// Convert calls; per-call state travels in the parser context.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM, mdext.EscapeHTML),
	goldmark.WithParserOptions(parser.WithInlineParsers(util.Prioritized(mentionParser{}, 500))),
	goldmark.WithRendererOptions(
		// Gitter breaks lines where the writer did, unlike plain markdown.
		gmhtml.WithHardWraps(),
		renderer.WithNodeRenderers(util.Prioritized(nodeRenderer{}, 500)),
	),
)

// ToMatrix converts Gitter markdown. The body stays the text as written on
// Gitter (it is already readable plain text); HTML is the rendering.
func ToMatrix(text string, resolve MentionResolver) Matrix {
	out := Matrix{Body: text}
	if text == "" {
		return out
	}
	ctx := parser.NewContext()
	var mentions []id.UserID
	ctx.Set(resolverKey, resolve)
	ctx.Set(mentionsKey, &mentions)
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(text), &buf, parser.WithContext(ctx)); err != nil {
		// goldmark only fails when the writer does; a bytes.Buffer does not.
		return out
	}
	rendered := format.UnwrapSingleParagraph(buf.String())
	out.Mentions = mentions
	if rendered != html.EscapeString(text) {
		out.HTML = rendered
	}
	return out
}

// mentionNode is an @mention resolved to a Matrix user.
type mentionNode struct {
	ast.BaseInline
	pill Pill
}

func (n *mentionNode) Kind() ast.NodeKind { return kindMention }

func (n *mentionNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"MXID": string(n.pill.MXID)}, nil)
}

// mentionParser reads "@name" where name is what Gitter allows in
// usernames (GitHub's letters, digits and hyphens, plus underscores of
// other providers), and only at the start of a word, so e-mail addresses
// are left to the autolinker.
type mentionParser struct{}

func (mentionParser) Trigger() []byte { return []byte{'@'} }

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (mentionParser) Parse(_ ast.Node, block text.Reader, pc parser.Context) ast.Node {
	if prev := block.PrecendingCharacter(); prev < 0x80 && (isNameByte(byte(prev)) || prev == '@' || prev == '/') {
		return nil
	}
	line, _ := block.PeekLine()
	n := 1
	for n < len(line) && isNameByte(line[n]) {
		n++
	}
	if n == 1 {
		return nil
	}
	resolve, _ := pc.Get(resolverKey).(MentionResolver)
	if resolve == nil {
		return nil
	}
	pill, ok := resolve(string(line[1:n]))
	if !ok || pill.MXID == "" {
		return nil
	}
	if pill.Name == "" {
		pill.Name = string(line[:n])
	}
	block.Advance(n)
	if list, _ := pc.Get(mentionsKey).(*[]id.UserID); list != nil && !containsID(*list, pill.MXID) {
		*list = append(*list, pill.MXID)
	}
	return &mentionNode{pill: pill}
}

func containsID(list []id.UserID, u id.UserID) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

// nodeRenderer renders what Matrix needs differently from goldmark's
// HTML: mentions as pills, and images as links, since Matrix clients only
// show images from the media repository (mxc://), not from the web.
type nodeRenderer struct{}

func (nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindMention, renderMention)
	reg.Register(ast.KindImage, renderImage)
}

func renderImage(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Image)
	if !entering {
		_, _ = w.WriteString("</a>")
		return ast.WalkContinue, nil
	}
	dest := n.Destination
	if gmhtml.IsDangerousURL(dest) {
		dest = nil
	}
	_, _ = w.WriteString(`<a href="`)
	_, _ = w.Write(util.EscapeHTML(util.URLEscape(dest, true)))
	_, _ = w.WriteString(`">`)
	if !n.HasChildren() {
		_, _ = w.Write(util.EscapeHTML(dest))
	}
	return ast.WalkContinue, nil
}

// renderMention writes a pill: a matrix.to link whose text is the name.
func renderMention(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*mentionNode)
	_, _ = w.WriteString(`<a href="`)
	_, _ = w.WriteString(html.EscapeString(n.pill.MXID.URI().MatrixToURL()))
	_, _ = w.WriteString(`">`)
	_, _ = w.WriteString(html.EscapeString(strings.TrimSpace(n.pill.Name)))
	_, _ = w.WriteString(`</a>`)
	return ast.WalkSkipChildren, nil
}
