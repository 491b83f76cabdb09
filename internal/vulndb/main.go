// Command vulndb builds an offline Go vulnerability database (the v1 layout
// govulncheck reads with -db file:///DIR: index/db.json, index/modules.json,
// index/vulns.json and ID/GO-....json) from the OSV entries of the
// golang.org/x/vulndb module (its data/osv directory), so that `make
// vulncheck` needs no network at scan time.
//
// It only reads the OSV files and writes the database; it must not fetch
// anything.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

type osv struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced"`
				Fixed      string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	src := flag.String("src", "", "directory of OSV entries (the vulndb module's data/osv)")
	out := flag.String("out", "", "directory to write the database to (replaced)")
	flag.Parse()
	n, err := build(*src, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb: %d entries written to %s\n", n, *out)
}

// build writes the database and returns how many entries it holds.
func build(src, out string) (int, error) {
	if src == "" || out == "" {
		return 0, errors.New("-src and -out are required")
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return 0, err
	}
	tmp := out + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}
	var vulns []vulnMeta
	modules := map[string]*moduleMeta{}
	var latest time.Time
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return 0, err
		}
		var v osv
		if err := json.Unmarshal(b, &v); err != nil {
			return 0, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if v.ID == "" || v.ID+".json" != e.Name() {
			return 0, fmt.Errorf("%s: entry id %q does not match its file name", e.Name(), v.ID)
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.Name()), b, 0o644); err != nil {
			return 0, err
		}
		vulns = append(vulns, vulnMeta{ID: v.ID, Modified: v.Modified, Aliases: v.Aliases})
		if v.Modified.After(latest) {
			latest = v.Modified
		}
		for _, a := range v.Affected {
			path := a.Package.Name
			if path == "" {
				continue
			}
			fixed := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if ev.Fixed != "" && (fixed == "" || semver.Compare("v"+ev.Fixed, "v"+fixed) > 0) {
						fixed = ev.Fixed
					}
				}
			}
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path}
				modules[path] = m
			}
			if i := slices.IndexFunc(m.Vulns, func(x moduleVuln) bool { return x.ID == v.ID }); i >= 0 {
				if fixed != "" && semver.Compare("v"+fixed, "v"+m.Vulns[i].Fixed) > 0 {
					m.Vulns[i].Fixed = fixed
				}
				continue
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: v.ID, Modified: v.Modified, Fixed: fixed})
		}
	}
	if len(vulns) == 0 {
		return 0, fmt.Errorf("%s holds no OSV entries", src)
	}
	slices.SortFunc(vulns, func(a, b vulnMeta) int { return strings.Compare(a.ID, b.ID) })
	var mods []*moduleMeta
	for _, m := range modules {
		slices.SortFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *moduleMeta) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{"db.json": map[string]time.Time{"modified": latest}, "vulns.json": vulns, "modules.json": mods} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return len(vulns), os.Rename(tmp, out)
}
