// The card form: Stripe.js collects the card in the browser (the card
// number never reaches this site), makes a card token, and the form sends
// only the token's card id; the server confirms the payment with it.
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
    const result = await stripe.createToken(card);
    if (result.error || !result.token) {
      message.textContent = (result.error && result.error.message) || "The card details were not accepted.";
      button.disabled = false;
      return;
    }
    form.elements.paymentMethod.value = result.token.card.id;
    form.submit();
  });
});
