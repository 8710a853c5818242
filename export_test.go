package ermine

// SkipFrameForTest returns the bot's frame skipper (tests in package ermine_test).
func SkipFrameForTest(b *Bot) func(frameType string) bool { return b.skipper.skip }
