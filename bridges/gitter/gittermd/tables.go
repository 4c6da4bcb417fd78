package gittermd

import (
	"context"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"maunium.net/go/mautrix/format"
)

// chunk is a run of top-level HTML, or one top-level table.
type chunk struct {
	html  string
	table *html.Node
}

// splitTables cuts a message's HTML at its top-level <table> elements.
// Tables nested in lists or quotes are left to the parser, which flattens
// them: GFM tables cannot nest there anyway.
func splitTables(s string) []chunk {
	if !strings.Contains(s, "<table") {
		return []chunk{{html: s}}
	}
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return []chunk{{html: s}}
	}
	var out []chunk
	var run strings.Builder
	flush := func() {
		if run.Len() > 0 {
			out = append(out, chunk{html: run.String()})
			run.Reset()
		}
	}
	for _, n := range nodes {
		if n.Type == html.ElementNode && n.DataAtom == atom.Table {
			flush()
			out = append(out, chunk{table: n})
			continue
		}
		_ = html.Render(&run, n)
	}
	flush()
	return out
}

// tableToMarkdown writes a GFM pipe table; the first row is the header
// (GFM needs one), cells are converted with the same parser as the rest,
// and pipes or line breaks inside cells are escaped or flattened.
func tableToMarkdown(table *html.Node, p *format.HTMLParser) string {
	var rows [][]string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			switch c.DataAtom {
			case atom.Tr:
				var row []string
				for cell := c.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type == html.ElementNode && (cell.DataAtom == atom.Td || cell.DataAtom == atom.Th) {
						row = append(row, cellText(cell, p))
					}
				}
				rows = append(rows, row)
			case atom.Thead, atom.Tbody, atom.Tfoot:
				walk(c)
			}
		}
	}
	walk(table)
	if len(rows) == 0 {
		return ""
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range width {
			cell := ""
			if i < len(cells) {
				cell = cells[i]
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, width)
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func cellText(cell *html.Node, p *format.HTMLParser) string {
	var inner strings.Builder
	for c := cell.FirstChild; c != nil; c = c.NextSibling {
		_ = html.Render(&inner, c)
	}
	md := p.Parse(inner.String(), format.NewContext(context.Background()))
	md = strings.ReplaceAll(md, "\n", " ")
	return strings.ReplaceAll(md, "|", `\|`)
}
