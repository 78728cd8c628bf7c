"""Dead letters: writing them (`writer`), reading and replaying them (`reader`), the CLI (`cli`).

A dead letter is the original record plus `dlq.*` headers saying where it came from and why
it failed, on the consumer group's `<group>.dlq` topic.
"""
