// The card form: Stripe.js takes the card in the browser and confirms the
// payment with Stripe itself (the card never reaches this site), asking the
// buyer's bank to confirm it is them (3-D Secure) when the card wants it.
// Then the form tells the site, which asks Stripe how the payment ended.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("pay-form");
  if (!form || typeof Stripe !== "function") return;
  const stripe = Stripe(form.dataset.key);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const message = document.getElementById("card-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    message.textContent = "Paying…";
    const result = await stripe.confirmCardPayment(form.dataset.secret, { payment_method: { card } });
    // Paid already (an earlier attempt went through): the site settles it.
    const paid = result.error && result.error.code === "payment_intent_unexpected_state" &&
      result.error.payment_intent && result.error.payment_intent.status === "succeeded";
    if (result.error && !paid) {
      const why = result.error.message || "The payment did not go through.";
      message.textContent = `${why} Nothing was charged; try again or use another card.`;
      button.disabled = false;
      return;
    }
    form.submit();
  });
});
