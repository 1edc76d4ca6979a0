"""SMS provider adapters (Twilio first). Each implements `connector.ports.SmsPort`."""
