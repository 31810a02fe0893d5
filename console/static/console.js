// Live updates for the console (no framework, no inline code: the CSP
// allows only this file). The server sends an event on /live when answers,
// referrals or notices came in; a page without a half-filled form reloads
// itself, a page with one (or the answer to a form post) shows a notice
// instead, so nothing typed is lost and no form is sent twice.
// A page that answers a form (data-niet-herladen: reloading it would send
// the form again) and a page whose form is being sent never reload.
(function () {
  'use strict';
  if (!window.EventSource) return;
  var typed = document.querySelector('[data-niet-herladen]') !== null;
  document.addEventListener('input', function () { typed = true; });
  document.addEventListener('submit', function () { typed = true; });
  // The answer to a form post is never reloaded: that would send the form again.
  if (document.body.hasAttribute('data-na-versturen')) typed = true;
  var seen = document.body.getAttribute('data-version');
  var source = new EventSource('/live?sinds=' + encodeURIComponent(seen || '0'));
  source.addEventListener('nieuw', function (event) {
    if (event.data === seen) return;
    if (typed) {
      var banner = document.getElementById('nieuw');
      if (banner) banner.hidden = false;
    } else {
      window.location.reload();
    }
  });
})();
