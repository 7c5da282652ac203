package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
)

// keygenSecretBytes is the randomness of a new key's secret: 256 bits,
// 43 characters of base64url.
const keygenSecretBytes = 32

// keygenCmd prints a new API key line, name:role:secret, for the
// apiserver's API_KEYS or API_KEYS_FILE; clients send its secret (the part
// after the last colon). It talks to no server.
func keygenCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	name := fs.String("name", "client", "the key's name, as logs and rate limits show it")
	role := fs.String("role", "read", "the key's role: read, submit, worker or admin")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usagef("keygen takes no arguments")
		}
		if *name == "" || strings.ContainsAny(*name, ":, \t\n") {
			return usagef("--name %q: want a non-empty name without ':', ',' or spaces", *name)
		}
		switch *role {
		case "read", "submit", "worker", "admin":
		default:
			return usagef("--role %q: want read, submit, worker or admin", *role)
		}
		b := make([]byte, keygenSecretBytes)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		secret := base64.RawURLEncoding.EncodeToString(b)
		line := *name + ":" + *role + ":" + secret
		if a.json {
			return a.printJSON(map[string]string{"name": *name, "role": *role, "secret": secret, "key": line})
		}
		fmt.Fprintln(a.out, line)
		fmt.Fprintln(a.errOut, "add this line to the apiservers' API_KEYS (or API_KEYS_FILE); clients send the secret, the part after the last colon")
		return nil
	}
}
