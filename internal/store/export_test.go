package store

// DeriveKeyForTest is deriveKey, NewKeyLine's choice of a new key.
var DeriveKeyForTest = deriveKey
