"""The SOAP source (`kind: soap`) against a small SOAP service the tests start on 127.0.0.1."""
