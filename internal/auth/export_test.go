package auth

// ValidAccountNameForTest is validAccountName, which a test holds equal to
// queue.ValidAccountName.
var ValidAccountNameForTest = validAccountName
