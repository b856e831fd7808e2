/* itfixe: what GoAccess's dashboard needs to work under a CSP without 'unsafe-inline'
   (analytics/goaccess.py puts this first in goaccess.js).
   1. Its markup and templates carry a few style attributes, which style-src 'self' drops. The
      dashboard is written with data-style instead; this applies them through the CSSOM, which
      the CSP allows, as soon as the markup is in the page.
   2. Its menus and buttons are links to "javascript:void(0);", which the CSP refuses to run
      (and reports). Their click handlers do the work; only that default action is cancelled. */
(function () {
  'use strict';
  function applyStyles(root) {
    if (root.nodeType !== 1) return;
    if (root.hasAttribute('data-style')) root.style.cssText = root.getAttribute('data-style');
    root.querySelectorAll('[data-style]').forEach(function (el) {
      el.style.cssText = el.getAttribute('data-style');
    });
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.addedNodes.forEach(applyStyles); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', function () {
    applyStyles(document.documentElement);
  });
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (link) event.preventDefault();
  }, true);
})();
