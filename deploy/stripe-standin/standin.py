"""The Stripe stand-in of development and tests: localstripe (PyPI), with the
gaps that the real Stripe client (async-stripe) trips on filled in here, so
the payments service runs the same calls against it as against Stripe.

- Replies gain the fields async-stripe's types require and localstripe
  leaves out (PaymentIntent amount_capturable, amount_received,
  confirmation_method, payment_method_types, last_payment_error.type;
  Charge amount_captured, billing_details, disputed; Event
  pending_webhooks).
- After a declined card, another card can be attached and confirmed, as
  with Stripe.
- `Idempotency-Key` is honoured: a POST repeated with the same key (and API
  key) gets the first answer back instead of a second object.
- State lives in memory only: a restarted stand-in starts empty.

Run: `python standin.py --port 8420` (localstripe's own flags).
"""

import localstripe.resources as resources
from aiohttp import web
from localstripe import server


def add_fields(cls, fields):
    """Make cls._export add each missing field, computed from the export."""
    original = cls._export

    def _export(self, expand=None):
        obj = original(self, expand=expand)
        for name, value in fields.items():
            if name not in obj:
                obj[name] = value(obj)
        return obj

    cls._export = _export


def succeeded(obj):
    return obj.get("status") == "succeeded"


add_fields(resources.PaymentIntent, {
    "amount_capturable": lambda o: o["amount"] if o.get("status") == "requires_capture" else 0,
    "amount_received": lambda o: o["amount"] if succeeded(o) else 0,
    "confirmation_method": lambda o: "automatic",
    "payment_method_types": lambda o: ["card"],
})
_intent_export = resources.PaymentIntent._export


def _intent_with_error_type(self, expand=None):
    obj = _intent_export(self, expand=expand)
    error = obj.get("last_payment_error")
    if isinstance(error, dict) and "type" not in error:
        obj["last_payment_error"] = dict(error, type="card_error")
    return obj


resources.PaymentIntent._export = _intent_with_error_type

_intent_update = resources.PaymentIntent._update


def _update_after_decline(self, **data):
    # Stripe lets a buyer try another card after a decline; localstripe keeps
    # the failed charge and refuses to confirm again.
    if "payment_method" in data and self.latest_charge is not None and self.latest_charge.status == "failed":
        self.latest_charge = None
    return _intent_update(self, **data)


resources.PaymentIntent._update = _update_after_decline

add_fields(resources.Charge, {
    "amount_captured": lambda o: o["amount"] if o.get("captured") and succeeded(o) else 0,
    "billing_details": lambda o: {"address": None, "email": None, "name": None, "phone": None},
    "disputed": lambda o: False,
})
add_fields(resources.Event, {"pending_webhooks": lambda o: 1})

# No pickle on every write (it grows with every object and is shared by
# every stand-in on the machine).
resources.Store.try_load_from_disk = lambda self: None
resources.Store.dump_to_disk = lambda self: None

_answers = {}


@web.middleware
async def idempotency(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), request.path, key)
    if scope in _answers:
        status, body = _answers[scope]
        return web.Response(status=status, body=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = await handler(request)
    if response.status < 500 and response.body is not None:
        _answers[scope] = (response.status, bytes(response.body))
    return response


server.app.middlewares.insert(0, idempotency)

if __name__ == "__main__":
    server.start()
