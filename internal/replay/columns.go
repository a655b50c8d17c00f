package replay

import (
	"fmt"
	"strings"

	"github.com/querygate/querygate/internal/session"
)

// writeDecisionColumns prints the decision's per-column facts (issue 11
// item 4): each output column with its sources, infoTypes and whether it is
// derived, then how each sensitive source was classified.
func writeDecisionColumns(b *strings.Builder, d *session.Decision) {
	for _, c := range d.Columns {
		fmt.Fprintf(b, "  column:   %s <- %s", clean(c.Name), orDash(clean(strings.Join(c.Lineage, ", "))))
		if c.LineageOmitted > 0 {
			fmt.Fprintf(b, " (and %d more)", c.LineageOmitted)
		}
		if c.Derived {
			b.WriteString(", derived")
		}
		if len(c.InfoTypes) > 0 {
			fmt.Fprintf(b, ", %s", strings.Join(c.InfoTypes, ","))
		}
		b.WriteString("\n")
		for _, cc := range c.Classes {
			fmt.Fprintf(b, "            %s: %s by %s", clean(cc.Column), strings.Join(cc.InfoTypes, ","), strings.Join(cc.Sources, ","))
			if cc.SampledRows > 0 || cc.NonNull > 0 {
				share := 0.0
				if cc.NonNull > 0 {
					share = 100 * float64(cc.Matches) / float64(cc.NonNull)
				}
				fmt.Fprintf(b, " (%d of %d cells with text matched, %.1f%%, in %d sampled rows)", cc.Matches, cc.NonNull, share, cc.SampledRows)
			}
			b.WriteString("\n")
		}
		if c.ClassesOmitted > 0 {
			fmt.Fprintf(b, "            and %d more classified sources\n", c.ClassesOmitted)
		}
	}
	if d.ColumnsOmitted > 0 {
		fmt.Fprintf(b, "  columns:  %d more output columns not recorded (the record keeps %d KiB of column facts)\n", d.ColumnsOmitted, session.MaxDecisionColumnsBytes>>10)
	}
}
