"""Twilio Programmable Messaging: the `SmsPort` (client), webhook parsing and signature,
the error table, the reconciliation poll and keyword evidence."""

from connector.sms.twilio.client import TwilioSms

__all__ = ["TwilioSms"]
