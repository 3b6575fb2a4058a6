"""The Stripe stand-in of development and tests: localstripe (PyPI), with the
gaps that the real Stripe client (async-stripe) trips on filled in here, so
the payments service runs the same calls against it as against Stripe.

- Replies gain the fields async-stripe's types require and localstripe
  leaves out (PaymentIntent amount_capturable, amount_received,
  confirmation_method, payment_method_types; Charge amount_captured,
  billing_details, disputed; Event pending_webhooks).
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
