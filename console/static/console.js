// Live updates for the console (no framework, no inline code: the CSP
// allows only this file). The server sends an event on /live when answers,
// referrals or notices came in. A page nobody is working on reloads itself;
// a page being worked on (something typed, clicked or focused, or opened in
// the last three seconds), or the answer to a form post, shows a notice
// instead, so nothing typed is lost, no form is sent twice and nothing moves
// under the coordinator's hand.
(function () {
  'use strict';
  if (!window.EventSource) return;
  var busy = document.body.hasAttribute('data-na-versturen');
  var loaded = Date.now();
  ['input', 'change', 'mousedown', 'keydown', 'focusin'].forEach(function (name) {
    document.addEventListener(name, function () { busy = true; }, true);
  });
  var seen = document.body.getAttribute('data-version');
  var source = new EventSource('/live?sinds=' + encodeURIComponent(seen || '0'));
  source.addEventListener('nieuw', function (event) {
    if (event.data === seen) return;
    seen = event.data;
    if (busy || Date.now() - loaded < 3000) {
      var banner = document.getElementById('nieuw');
      if (banner) banner.hidden = false;
    } else {
      window.location.reload();
    }
  });
})();
