// Package accounts reads the Flex Forward accounts one fleet serves: the
// file FLEXLABEL_ACCOUNTS_FILE names (issue 17), YAML of the form
//
//	accounts:
//	  - name: brand-a
//	    tokenFile: /var/run/secrets/flexforward/brand-a   # or token: …
//	    rateLimit: 10                                      # calls per second
//	    environment: production                            # or baseURL: https://…
//
// Each account has its own token, budget and API base URL; names are short
// identifiers ([a-z0-9-]{1,32}) because they appear in Redis keys, metric
// labels and the Flexlabel-Account header. The account named "default" is
// the one a producer gets when it names none; a single-account setup
// (FLEXFORWARD_TOKEN alone) is that account, built by Single.
//
// Every problem of a file is reported at once, each naming its place
// (accounts[2].rateLimit); no error, log line or String shows a token.
//
// This package reads, validates and re-reads the file; routing jobs by
// account is the worker's and the store's (docs/ACCOUNTS.md).
package accounts

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
)

// DefaultName is the account a producer gets when it names none.
const DefaultName = "default"

// MaxRate is the highest rateLimit an account may have (calls per second),
// as for FLEXLABEL_RATE_LIMIT.
const MaxRate = 1000

// ValidName reports whether s can name an account: 1 to 32 of a-z, 0-9
// and "-" (store.ValidAccountName, the one place the rule is written).
func ValidName(s string) bool { return store.ValidAccountName(s) }

// Token is an account's bearer token. It prints as a mask: only Reveal
// gives it.
type Token string

func (t Token) String() string {
	if t == "" {
		return ""
	}
	return "[redacted]"
}

// GoString masks the token in %#v too.
func (t Token) GoString() string { return t.String() }

// Format masks the token in every fmt verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// MarshalText masks the token in JSON and YAML output.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Reveal is the token itself, for the Authorization header.
func (t Token) Reveal() string { return string(t) }

// Account is one Flex Forward account.
type Account struct {
	Name  string
	Token Token
	// TokenFile is where Token was read from ("" when given inline); a
	// reload reads it again, so a rotated Kubernetes secret is picked up.
	TokenFile string
	RateLimit float64 // calls per second, the account's budget
	BaseURL   string  // the API's base URL
}

// Set is the accounts of a fleet, by name.
type Set struct {
	accounts []Account // sorted by name
	// Sum is the content hash of what the set was read from (the file and
	// every token file), so a watcher reloads only on a change.
	Sum [sha256.Size]byte
}

// Accounts returns the accounts, sorted by name.
func (s *Set) Accounts() []Account { return slices.Clone(s.accounts) }

// Get returns the named account.
func (s *Set) Get(name string) (Account, bool) {
	i, ok := slices.BinarySearchFunc(s.accounts, name, func(a Account, n string) int { return strings.Compare(a.Name, n) })
	if !ok {
		return Account{}, false
	}
	return s.accounts[i], true
}

// Default returns the default account, if the set has one.
func (s *Set) Default() (Account, bool) { return s.Get(DefaultName) }

// Names returns the accounts' names, sorted.
func (s *Set) Names() []string {
	out := make([]string, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.Name
	}
	return out
}

// Single is the set of one account, the default, from FLEXFORWARD_TOKEN,
// FLEXFORWARD_BASE_URL and FLEXLABEL_RATE_LIMIT: the single-account setup.
func Single(token string, baseURL string, rate float64) *Set {
	return &Set{accounts: []Account{{Name: DefaultName, Token: Token(token), RateLimit: rate, BaseURL: baseURL}}}
}

// Error lists every problem of an accounts file, each naming its place.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	return e.File + ": " + strings.Join(e.Problems, "; ")
}

// Options are what Parse needs besides the file.
type Options struct {
	// DefaultRate is an account's rateLimit when the file gives none
	// (FLEXLABEL_RATE_LIMIT).
	DefaultRate float64
	// Env is the single-account setup, when FLEXFORWARD_TOKEN is set as
	// well as the file: it is the default account, and the file may then
	// not name one "default".
	Env *Account
	// ReadFile reads a tokenFile; os.ReadFile when nil.
	ReadFile func(string) ([]byte, error)
}

type fileAccount struct {
	Name        string   `yaml:"name"`
	Token       string   `yaml:"token"`
	TokenFile   string   `yaml:"tokenFile"`
	RateLimit   *float64 `yaml:"rateLimit"`
	BaseURL     string   `yaml:"baseURL"`
	Environment string   `yaml:"environment"`
}

type fileDoc struct {
	Accounts []fileAccount `yaml:"accounts"`
}

// ReadFile reads and parses the accounts file at path.
func ReadFile(path string, o Options) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problems: []string{"cannot be read: " + pathErr(err)}}
	}
	return Parse(path, data, o)
}

// Parse parses the accounts file data (read from path, for messages and
// for tokenFile paths relative to it).
func Parse(path string, data []byte, o Options) (*Set, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt field is an error, not a default
	if err := dec.Decode(&doc); err != nil {
		return nil, &Error{File: path, Problems: []string{"not valid YAML of the form accounts: [{name, token or tokenFile, rateLimit, baseURL or environment}]: " + yamlMessage(err)}}
	}
	h := sha256.New()
	h.Write(data)
	var problems []string
	bad := func(i int, field, msg string) {
		problems = append(problems, fmt.Sprintf("accounts[%d].%s: %s", i, field, msg))
	}
	set := &Set{}
	seen := map[string]int{}
	if o.Env != nil {
		set.accounts = append(set.accounts, *o.Env)
		seen[o.Env.Name] = -1
	}
	if len(doc.Accounts) == 0 && o.Env == nil {
		problems = append(problems, "accounts: lists no account")
	}
	for i, fa := range doc.Accounts {
		a := Account{Name: fa.Name}
		switch j, dup := seen[fa.Name]; {
		case !ValidName(fa.Name):
			bad(i, "name", fmt.Sprintf("must be 1 to 32 of a-z, 0-9 and -, got %q", fa.Name))
		case dup && j < 0:
			bad(i, "name", fmt.Sprintf("%q is the account of FLEXFORWARD_TOKEN; name this one otherwise, or unset FLEXFORWARD_TOKEN", fa.Name))
		case dup:
			bad(i, "name", fmt.Sprintf("%q is accounts[%d] too; names are unique", fa.Name, j))
		default:
			seen[fa.Name] = i
		}
		switch {
		case fa.Token != "" && fa.TokenFile != "":
			bad(i, "token", "give token or tokenFile, not both")
		case fa.Token != "":
			a.Token = Token(strings.TrimSpace(fa.Token))
		case fa.TokenFile != "":
			p := fa.TokenFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			tok, err := o.ReadFile(p)
			if err != nil {
				bad(i, "tokenFile", "cannot be read: "+pathErr(err))
				break
			}
			h.Write(tok)
			a.Token, a.TokenFile = Token(strings.TrimSpace(string(tok))), p
			if a.Token == "" {
				bad(i, "tokenFile", fmt.Sprintf("%s is empty", p))
			}
		default:
			bad(i, "token", "is required (or tokenFile)")
		}
		a.RateLimit = o.DefaultRate
		if fa.RateLimit != nil {
			a.RateLimit = *fa.RateLimit
		}
		if !(a.RateLimit > 0) || a.RateLimit > MaxRate {
			bad(i, "rateLimit", fmt.Sprintf("must be a positive number of calls per second up to %d, got %v", MaxRate, a.RateLimit))
		}
		switch {
		case fa.BaseURL != "" && fa.Environment != "":
			bad(i, "baseURL", "give baseURL or environment, not both")
		case fa.BaseURL != "":
			if msg := checkBaseURL(fa.BaseURL); msg != "" {
				bad(i, "baseURL", msg)
			}
			a.BaseURL = fa.BaseURL
		default:
			u, err := flexapi.BaseURLFor(fa.Environment)
			if err != nil {
				bad(i, "environment", fmt.Sprintf("must be production or staging, got %q", fa.Environment))
			}
			a.BaseURL = u
		}
		set.accounts = append(set.accounts, a)
	}
	if len(problems) > 0 {
		return nil, &Error{File: path, Problems: problems}
	}
	slices.SortFunc(set.accounts, func(a, b Account) int { return strings.Compare(a.Name, b.Name) })
	copy(set.Sum[:], h.Sum(nil))
	return set, nil
}

// checkBaseURL applies flexapi's rule for a base URL, without echoing any
// user info the URL holds.
func checkBaseURL(raw string) string {
	_, err := flexapi.ParseBaseURL(raw)
	switch {
	case err == nil:
		if strings.Contains(raw, "@") {
			return "must not contain user info (the token belongs in token or tokenFile)"
		}
		return ""
	case errors.Is(err, flexapi.ErrBaseURLNotAbsolute):
		return "must be an absolute URL"
	case errors.Is(err, flexapi.ErrBaseURLPlainHTTP):
		return "plain http is allowed only to a loopback host (the token must not cross a network in clear)"
	}
	return "must use https"
}

// pathErr is err without a repeated path prefix where it is an
// *os.PathError (the message names the path already).
func pathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// yamlMessage is yaml's error without its "yaml: " prefix, and never with
// the offending value: a token misplaced in the file must not be echoed.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// "line 3: cannot unmarshal !!str `tok-…` into float64": keep the
		// line and the kind of mistake, drop the value.
		out := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			if j := strings.Index(e, "`"); j >= 0 {
				if k := strings.LastIndex(e, "`"); k > j {
					e = e[:j] + "a value" + e[k+1:]
				}
			}
			e = strings.Replace(e, " in type accounts.fileAccount", " (the fields are name, token, tokenFile, rateLimit, baseURL, environment)", 1)
			e = strings.Replace(e, " in type accounts.fileDoc", " (the file has one field, accounts)", 1)
			out[i] = e
		}
		return strings.Join(out, "; ")
	}
	return msg
}
