"""What every layer shares: messages in and out, the clock, and the pure formats people write
(office hours, slot rules, availability windows). Imports nothing of ours."""
