/* Card entry with Stripe.js (the portal's stripe_publishable_key mode).
   The card goes from the browser to Stripe; the form posts back only the
   PaymentMethod id (pm_...). A file, not an inline script: the page's CSP
   allows scripts from the portal and Stripe only. */
(function () {
  'use strict';
  var form = document.getElementById('stripe-card-form');
  if (!form) {
    return;
  }
  var errors = document.getElementById('card-errors');
  var button = form.querySelector('button[type="submit"]');
  var show = function (text) {
    errors.textContent = text || '';
    errors.hidden = !text;
  };
  if (typeof window.Stripe !== 'function') {
    show(form.getAttribute('data-unavailable'));
    button.disabled = true;
    return;
  }
  var stripe = window.Stripe(form.getAttribute('data-stripe-key'));
  var card = stripe.elements({locale: form.getAttribute('data-locale') || 'auto'}).create('card');
  card.mount('#card-element');
  var busy = false;
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (busy) {
      return;  // a double click: one PaymentMethod, one post
    }
    busy = true;
    button.disabled = true;
    show('');
    var again = function (text) {
      show(text || form.getAttribute('data-failed'));
      busy = false;
      button.disabled = false;
    };
    var name = document.getElementById('card-holder').value.trim();
    stripe.createPaymentMethod({
      type: 'card',
      card: card,
      billing_details: name ? {name: name} : {}
    }).then(function (result) {
      if (!result || result.error || !result.paymentMethod) {
        again(result && result.error && result.error.message);
        return;
      }
      form.elements.payment_method.value = result.paymentMethod.id;
      form.submit();  // submit() fires no submit event: this handler is not re-entered
    }, function () {
      again('');
    });
  });
})();
