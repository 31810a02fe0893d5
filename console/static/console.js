// Live updates for the console (no framework, no inline code: the CSP
// allows only this file). The server sends an event on /live when answers,
// referrals or notices came in; a page without a half-filled form reloads
// itself, a page with one shows a notice instead, so nothing typed is lost.
(function () {
  'use strict';
  if (!window.EventSource) return;
  var typed = false;
  document.addEventListener('input', function () { typed = true; });
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
