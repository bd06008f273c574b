//go:build unix

package main

import (
	"fmt"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints a script that makes the shell complete metactl's commands and flags.
The shell asks metactl itself for the candidates (kongplete), so they always
match the binary on your PATH.

Examples:
  metactl completion bash > /etc/bash_completion.d/metactl
  echo 'source <(metactl completion zsh)' >> ~/.zshrc
  metactl completion fish > ~/.config/fish/completions/metactl.fish`
}

// completionScripts register metactl as its own completer: the shell runs
// it with COMP_LINE set, and run answers through kongplete.
var completionScripts = map[string]string{
	"bash": "complete -o default -C metactl metactl\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -o default -C metactl metactl\n",
	"fish": "complete -c metactl -f -a '(env COMP_LINE=(commandline -cp) metactl)'\n",
}

func (c *completionCmd) Run(a *app) error {
	_, err := fmt.Fprint(a.stdout, completionScripts[c.Shell])
	return err
}
