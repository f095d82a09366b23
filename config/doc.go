// Package config reads flexlabel's configuration from the environment.
//
// Variable names are a fixed contract that users script against. Parse takes
// the environment as a map (main passes the process environment; tests pass
// their own, so a test never reads the real one), fills in defaults, and
// validates everything at once: the returned *Error lists every problem, each
// naming its variable, so an operator fixes a deployment in one round trip.
// FLEXFORWARD_TOKEN is checked separately by Config.RequireToken because only
// the worker calls the Flex Forward API.
//
// Secrets never leave the process by accident. Tokens are of type Secret,
// which prints as [redacted] under every fmt verb, in slog and in JSON.
// A Config formats (fmt, slog) through Config.String and Config.LogValue,
// which show REDIS_URL with its password masked and leave out RedisOptions,
// the parsed REDIS_URL that holds the password; json.Marshal skips it too.
// Error messages never echo a token or the REDIS_URL password: a malformed
// REDIS_URL is diagnosed on a copy whose user info is masked.
package config
