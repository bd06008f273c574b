//go:build unix

package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/metactl/metactl/selftest"
)

type selftestCmd struct {
	Dir   string `required:"" type:"existingdir" help:"The folder where you mean to keep the catalog; a scratch folder is made inside it and removed." placeholder:"DIR"`
	Quick bool   `help:"Shorter probes: about 3-5 s instead of about 10-15 s on a local disk."`
}

func (c *selftestCmd) Help() string {
	return `Checks that the filesystem under --dir honours what metactl's crash safety
assumes, before an incident shows that it does not (NFS, EFS, some FUSE and
overlay filesystems). In a scratch folder inside DIR it runs, with real child
processes (this metactl binary re-executed):

  fsync                 fsync of a file and of a folder return no error
  rename-atomic         another process reading a file that is replaced by
                        rename never sees it missing or partial
  flock                 an exclusive flock held here refuses another process
  writer-lock           a second metactl writer gets exit 5 (busy) naming
                        the holder while the first holds the catalog
  reader-beside-writer  readers in other processes beside a writer all see
                        the before- or the after-state, whole
  crash-import          import SIGKILLed at each failpoint: the catalog
  crash-compact         verifies and is the before- or the after-state
  crash-export          export SIGKILLed at each failpoint: no partial file,
                        and the next export completes the folder

Each property is reported PASS or FAIL with its figures (kills, reads,
milliseconds). The scratch folder is removed at the end, also on failure and
on Ctrl-C. Exit 0 if every property holds, 4 if one does not; the README
says what each FAIL means and what to do.

Examples:
  metactl selftest --dir /var/lib/metactl
  metactl selftest --dir /mnt/efs/metactl --quick --json`
}

func (c *selftestCmd) Run(a *app) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("selftest: find this binary: %w", err)
	}
	var progress func(string)
	if !a.cli.JSON && a.isTerminal() {
		progress = func(name string) { fmt.Fprintf(a.stderr, "selftest: %s...\n", name) }
	}
	rep, err := selftest.Run(a.ctx, selftest.Options{Dir: c.Dir, Binary: exe, Quick: c.Quick, Progress: progress})
	if err != nil {
		return err
	}
	if a.cli.JSON {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROPERTY\tRESULT\tKILLS\tREADS\tMS\tDETAIL")
		for _, p := range rep.Properties {
			res := map[bool]string{true: "PASS", false: "FAIL"}[p.Pass]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", p.Name, res, p.Kills, p.Reads, p.Millis, p.Detail)
		}
		tw.Flush()
		verdict := map[bool]string{true: "PASS", false: "FAIL"}[rep.Pass]
		fmt.Fprintf(a.stdout, "%s: %s: %d kills, %d reads in %.1f s; scratch folder %s removed: %v\n",
			verdict, rep.Dir, rep.Kills, rep.Reads, float64(rep.Millis)/1000, rep.Scratch, rep.Removed)
	}
	if !rep.Pass {
		return errSelftestFailed
	}
	return nil
}

// selftestHelperCmd is the second process of the selftest probes.
type selftestHelperCmd struct {
	Args []string `arg:"" help:"The probe and its arguments."`
}

func (c *selftestHelperCmd) Run(a *app) error {
	return selftest.Helper(a.ctx, c.Args, a.stdout)
}
