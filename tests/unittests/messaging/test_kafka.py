"""The shared Kafka client: checked settings and a sender whose deliveries are confirmed.

No broker runs here: messages go to a closed port with a short delivery timeout, so the broker's
refusal is exactly what is tested (tests/integrationtests/kafka cover delivery to a real broker).
"""

import time
import unittest

from pdip.messaging import KafkaDeliveryError, KafkaSender, KafkaSettingsError, kafka_settings

# log_level 0: the client would print each refused connection to stderr
NOWHERE = {"bootstrap_servers": "127.0.0.1:1", "topic": "t", "delivery_timeout": 0.3, "options": {"log_level": 0}}


class KafkaSettingsTest(unittest.TestCase):
    def test_bad_settings_raise_the_messaging_error_naming_each_key(self):
        with self.assertRaises(KafkaSettingsError) as raised:
            kafka_settings({"topic": "t", "compression": "brotli"}, "kafka exporter", "target")
        self.assertEqual(
            raised.exception.problems,
            [
                "kafka exporter: bootstrap_servers: required (host:port, or several separated by commas)",
                "kafka exporter: compression: expected one of none, gzip, lz4, zstd, snappy, got 'brotli'",
            ],
        )

    def test_an_unknown_setting_is_refused_with_a_suggestion(self):
        with self.assertRaisesRegex(
            KafkaSettingsError, r"^kafka exporter: topik: unknown setting .*did you mean topic\?"
        ):
            kafka_settings({**NOWHERE, "topik": "t"}, "kafka exporter", "target")

    def test_the_integrator_reports_the_same_problems_as_an_operation_error(self):
        from pdip.integrator.adapters.kafka.settings import kafka_settings as connection_settings
        from pdip.integrator.errors import OperationError

        with self.assertRaises(OperationError) as raised:
            connection_settings({"topic": "t"}, "kafka connection", "target")
        self.assertEqual(
            raised.exception.problems,
            ["kafka connection: bootstrap_servers: required (host:port, or several separated by commas)"],
        )


class KafkaSenderTest(unittest.TestCase):
    def test_confirm_before_anything_was_sent_waits_for_nothing(self):
        sender = KafkaSender(kafka_settings(NOWHERE, "k", "target"))
        sender.confirm()
        sender.close()
        self.assertIsNone(sender._producer)

    def test_every_message_of_several_sends_is_counted_and_confirmed_together(self):
        sender = KafkaSender(kafka_settings(NOWHERE, "k", "target"))
        self.assertEqual(sender.send("t", ((None, b"%d" % number) for number in range(10_000))), 10_000)
        self.assertEqual(sender.send("t", [(b"last", b"x")]), 1)  # the same producer goes on
        with self.assertRaisesRegex(KafkaDeliveryError, r"^10001 messages were not delivered: t: "):
            sender.confirm()
        sender.close()

    def test_a_full_queue_is_waited_out_and_each_refused_message_fails_the_confirmation(self):
        options = {**NOWHERE["options"], "queue.buffering.max.messages": 1}
        sender = KafkaSender(kafka_settings({**NOWHERE, "options": options}, "k", "target"))
        started = time.monotonic()
        # the second message waits until the first has timed out and left the client's queue
        self.assertEqual(sender.send("t", [(b"a", b"1"), (None, b"2")]), 2)
        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        with self.assertRaisesRegex(KafkaDeliveryError, r"^2 entries were not delivered: t: .* \(and 1 more\)$"):
            sender.confirm("entries")
        sender.close()
        sender.close()  # closing twice is harmless
        self.assertIsNone(sender._producer)


if __name__ == "__main__":
    unittest.main()
