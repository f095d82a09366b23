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
// which show REDIS_URL with its passwords masked (MaskRedisURL) and leave out
// RedisOptions and RedisFailover, the parsed REDIS_URL that holds them;
// json.Marshal skips them too. Error messages never echo a token or a
// REDIS_URL password: a malformed REDIS_URL is diagnosed on a copy whose
// secrets are masked.
//
// REDIS_URL names one server (redis://, rediss://, unix://) or, when it has
// a master_name parameter, a Redis Sentinel deployment in go-redis's
// failover form. Config.NewRedisClient builds the one client a process
// uses from either, so no command builds its own.
package config
