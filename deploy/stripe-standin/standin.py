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
- The browser confirms a payment as Stripe.js does with Stripe:
  `confirmCardPayment(clientSecret, {payment_method: {card}})` sends the card
  straight to the stand-in with the publishable key and the intent's client
  secret (localstripe's own version only runs the 3-D Secure step of an
  intent the server already confirmed), then, when the card asks for it,
  shows localstripe's 3-D Secure dialog ("Complete authentication" / "Fail
  authentication"). Cards that ask: 4000002500003155, 4000002760003184,
  4000000000003063 and the other numbers Stripe documents.
- State lives in memory only: a restarted stand-in starts empty.

Run: `python standin.py --port 8420` (localstripe's own flags).
"""

import os
import re

import localstripe.resources as resources
from aiohttp import web
from localstripe import server
from localstripe.errors import UserError


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

# What Stripe.js does that localstripe's script does not: confirm an intent
# with the card typed into the card element, then authenticate if asked.
STRIPE_JS_CONFIRM = """
// ticktak's stand-in: confirmCardPayment as Stripe.js runs it.
(function () {
  const localstripe = Stripe;
  Stripe = (apiKey, options) => {
    const stripe = localstripe(apiKey, options);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const card = data && data.payment_method && data.payment_method.card;
      if (!card) return authenticate(clientSecret, data);
      if (!card.value || !card.value.card.number) {
        return {error: {type: 'validation_error', code: 'incomplete_number',
                        message: 'Your card number is incomplete.'}};
      }
      const pi = clientSecret.split('_secret_')[0];
      let response, body;
      try {
        response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey,
            client_secret: clientSecret,
            payment_method_data: {
              type: 'card',
              card: card.value.card,
              billing_details: {address: {postal_code: card.value.postal_code}},
            },
          }),
        });
        body = await response.json().catch(() => ({}));
      } catch (err) {
        return {error: {type: 'api_connection_error', message: 'The card could not be checked. Try again.'}};
      }
      if (response.status !== 200 || body.error) {
        return {error: body.error || {type: 'api_error', message: 'The payment failed. Try again.'}};
      }
      if (body.status !== 'requires_action') return {paymentIntent: body};
      const done = await authenticate(clientSecret);
      if (done.error || done.paymentIntent.status !== 'requires_payment_method') return done;
      return {error: {type: 'card_error', code: 'payment_intent_authentication_failure',
                      message: 'We are unable to authenticate your payment method. ' +
                               'Please choose a different payment method and try again.',
                      payment_intent: done.paymentIntent}};
    };
    return stripe;
  };
})();
"""

_CONFIRM_PATH = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")


def confirm_in_browser(intent_id, data):
    """Confirm intent_id with the card of payment_method_data, as Stripe does
    for a publishable key that shows the intent's client secret."""
    intent = resources.PaymentIntent._api_retrieve(intent_id)
    if data.get("client_secret") != intent.client_secret:
        raise UserError(401, "Unauthorized")
    method_data = data.get("payment_method_data")
    if not isinstance(method_data, dict):
        raise UserError(400, "Bad request")
    if intent.status not in ("requires_payment_method", "requires_confirmation"):
        raise UserError(400, f"This PaymentIntent's status is {intent.status}")
    method = resources.PaymentMethod(**method_data)
    intent._update(payment_method=method.id)
    intent._confirm(on_failure_now=intent._report_failure)
    return intent


@web.middleware
async def browser_confirm(request, handler):
    if request.method == "GET" and request.path == "/js.stripe.com/v3/":
        path = os.path.join(os.path.dirname(os.path.realpath(server.__file__)), "localstripe-v3.js")
        with open(path) as f:
            return web.Response(text=f.read() + STRIPE_JS_CONFIRM, content_type="application/javascript")
    match = _CONFIRM_PATH.match(request.path)
    if request.method != "POST" or match is None or server.get_api_key(request) is not None:
        return await handler(request)
    data = await server.get_post_data(request, remove_auth=False) or {}
    if not (isinstance(data.get("key"), str) and data["key"].startswith("pk_")):
        raise UserError(401, "Unauthorized")
    return server.json_response(confirm_in_browser(match.group(1), data)._export())


# After the error middleware (which shapes errors as Stripe does), before
# localstripe's authentication (which takes only a secret key here).
server.app.middlewares.insert(server.app.middlewares.index(server.auth_middleware), browser_confirm)

if __name__ == "__main__":
    server.start()
