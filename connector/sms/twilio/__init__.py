"""Twilio Programmable Messaging: the `SmsPort` (client: send, find_send, reconcile), the
Message resource as the port's types (resources), webhook parsing and signature, and the
error table that maps Twilio's codes to the port's errors and failures."""

from connector.sms.twilio.client import TwilioSms

__all__ = ["TwilioSms"]
