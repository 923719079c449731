"""The webhooks' writers: subscriptions (endpoints), the fan-out of events to deliveries,
and the attempts that send them."""
