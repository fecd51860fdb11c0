"""A sender whose messages outlive the wait for them: slow (the wait is the delivery timeout plus
a grace of five seconds), so it lives with the integration tests; it needs no broker."""

import unittest

from pdip.messaging import KafkaDeliveryError, KafkaSender, kafka_settings

# Messages may wait a minute in the client, the sender waits a fraction of a second (plus grace).
PATIENT = {
    "bootstrap_servers": "127.0.0.1:1",
    "topic": "t",
    "delivery_timeout": 0.1,
    "options": {"log_level": 0, "message.timeout.ms": 60_000},
}


class UnconfirmedTest(unittest.TestCase):
    def test_messages_not_confirmed_in_time_fail_the_confirmation_with_their_count(self):
        sender = KafkaSender(kafka_settings(PATIENT, "k", "target"))
        self.addCleanup(sender.close)
        sender.send("t", [(None, b"1"), (None, b"2")])
        with self.assertRaisesRegex(KafkaDeliveryError, r"^2 entries were not confirmed by the broker in time$"):
            sender.confirm("entries")


if __name__ == "__main__":
    unittest.main()
