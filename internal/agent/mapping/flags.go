package mapping

import (
	"flag"
	"fmt"
	"strings"
)

// sharedString is a flag value that sets several strings. ilagent has flags that serve two
// parts (the filter flags serve events and policy messages; the topic flags serve MQTT and
// Kafka): the first part to register such a flag creates it, the next ones bind their own
// field to it, so every part reads what the user gave once.
type sharedString struct{ targets []*string }

func (s *sharedString) String() string {
	if s == nil || len(s.targets) == 0 {
		return ""
	}
	return *s.targets[0]
}

func (s *sharedString) Set(v string) error {
	for _, p := range s.targets {
		*p = v
	}
	return nil
}

// sharedStringVar registers p under each name (short ones first, the long one last), or binds p to the flag already registered
// under it. It panics, like the flag package, when the name is taken by another kind of flag.
func sharedStringVar(fs *flag.FlagSet, p *string, value, usage string, names ...string) {
	*p = value
	for i, name := range names {
		if f := fs.Lookup(name); f != nil {
			s, ok := f.Value.(*sharedString)
			if !ok {
				panic(fmt.Sprintf("mapping: flag %s is already defined", name))
			}
			*p = s.String()
			s.targets = append(s.targets, p)
			continue
		}
		u := usage
		if long := names[len(names)-1]; i < len(names)-1 {
			u = "short for --" + long
			if _, arg, ok := strings.Cut(usage, "`"); ok { // the argument's name, as the flag package shows it
				arg, _, _ = strings.Cut(arg, "`")
				u += " `" + arg + "`"
			}
		}
		fs.Var(&sharedString{targets: []*string{p}}, name, u)
	}
}
