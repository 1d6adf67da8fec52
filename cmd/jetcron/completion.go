package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// cmdCompletion is `jetcron completion bash|zsh`: a completion script for the shell,
// made from the dispatch table, so that it completes every command there is.
func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "completion", args: "bash|zsh", synopsis: "Prints a shell completion script. Load it with\n" +
		"  source <(jetcron completion bash)     # in ~/.bashrc\n" +
		"  source <(jetcron completion zsh)      # in ~/.zshrc"})
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion(subcommands()))
	case "zsh":
		fmt.Fprint(stdout, "autoload -U +X bashcompinit && bashcompinit\n"+bashCompletion(subcommands()))
	default:
		fmt.Fprintf(stderr, "Error: no completion for shell %q: use bash or zsh\n\n", pos[0])
		c.printUsage(stderr)
		return exitUsage
	}
	return exitOK
}

// completionWords maps each command prefix ("" for none, "job", "job periodic") to
// the words that may follow it.
func completionWords(cmds []subcommand) map[string][]string {
	next := map[string]map[string]bool{}
	for _, c := range cmds {
		for i := range c.path {
			prefix := strings.Join(c.path[:i], " ")
			if next[prefix] == nil {
				next[prefix] = map[string]bool{}
			}
			next[prefix][c.path[i]] = true
		}
	}
	out := map[string][]string{}
	for prefix, words := range next {
		for w := range words {
			out[prefix] = append(out[prefix], w)
		}
		sort.Strings(out[prefix])
	}
	return out
}

// bashCompletion is a bash completion function for the commands: the words after
// "jetcron" select the next ones; past a whole command, files complete.
func bashCompletion(cmds []subcommand) string {
	words := completionWords(cmds)
	prefixes := make([]string, 0, len(words))
	for p := range words {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	var b strings.Builder
	b.WriteString("# jetcron completion; load with: source <(jetcron completion bash)\n")
	b.WriteString("_jetcron() {\n  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  local prefix=\"${COMP_WORDS[*]:1:COMP_CWORD-1}\"\n  case \"$prefix\" in\n")
	for _, p := range prefixes {
		fmt.Fprintf(&b, "    %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", p, strings.Join(words[p], " "))
	}
	b.WriteString("    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n  esac\n}\ncomplete -F _jetcron jetcron\n")
	return b.String()
}
